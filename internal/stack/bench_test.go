package stack

import (
	"context"
	"testing"
)

// BenchmarkLoad loads the six-service stack with its .env and diagnoses it
// (compose-go's load, and the preview's model).
func BenchmarkLoad(b *testing.B) {
	b.Setenv("DC_CURRENTS_REGISTRY", "127.0.0.1:5000")
	for i := 0; i < b.N; i++ {
		if _, err := Load(context.Background(), Options{ProjectDirectory: dir}); err != nil {
			b.Fatal(err)
		}
	}
}
