package standintest

import "strings"

// Getenv looks variables up in env (KEY=value entries), as os.Getenv does in
// the process's environment.
func Getenv(env []string) func(string) string {
	m := map[string]string{}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }
}
