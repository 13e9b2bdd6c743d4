package probe

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"

	"github.com/currentsdev/currents/internal/keychain"
	"github.com/currentsdev/currents/internal/standin"
)

// latency is added to every registry request, like a registry one region
// away; the figures below are then counted in round trips.
const latency = 50 * time.Millisecond

// BenchmarkCheck6 checks the six-service stack as `docker currents check`
// does: one credential lookup and one ping, then every manifest at once.
func BenchmarkCheck6(b *testing.B) { benchCheck(b, 1) }

// BenchmarkCheck60 checks ten copies of the stack (60 images).
func BenchmarkCheck60(b *testing.B) { benchCheck(b, 10) }

func benchCheck(b *testing.B, copies int) {
	f := newFixture(b)
	imgs := stack(b, f, f.reg.Host(), copies)
	cf := f.staticLogin(time.Hour)
	f.reg.SetLatency(latency)
	f.reg.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range New(keychain.New(cf)).Check(context.Background(), imgs) {
			if r.Status != OK {
				b.Fatalf("%s: %s", r.Image.Ref, r.Message)
			}
		}
	}
	report(b, f.reg)
}

// BenchmarkSerialDigest6 is the baseline: a `crane digest` loop over the six
// images, each authenticating on its own and waiting for the previous one.
func BenchmarkSerialDigest6(b *testing.B) {
	f := newFixture(b)
	imgs := f.images(b, "staging")
	user, pass, _ := f.aws.MintToken("arn:aws:iam::513558712013:user/ops", time.Hour)
	auth := crane.WithAuth(&authn.Basic{Username: user, Password: pass})
	f.reg.SetLatency(latency)
	f.reg.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, img := range imgs {
			if _, err := crane.Digest(img.Ref.String(), auth, crane.WithContext(context.Background())); err != nil {
				b.Fatal(err)
			}
		}
	}
	report(b, f.reg)
}

func report(b *testing.B, reg *standin.Registry) {
	b.StopTimer()
	perOp := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(reg.Requests().Requests)/float64(b.N), "requests/op")
	b.ReportMetric(float64(perOp)/float64(latency), "roundtrips/op")
}
