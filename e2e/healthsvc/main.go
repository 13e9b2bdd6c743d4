// Command healthsvc is the one process inside every e2e image: a static binary in a FROM scratch image
// that answers GET /healthz with the service name baked into the image, so the tier can prove that the
// container compose started is the image it pulled through the helper.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", envOr("HEALTH_ADDR", ":8080"), "listen address")
	probe := flag.String("probe", "", "GET this URL and exit 0 on 200 (for a compose healthcheck in a scratch image)")
	flag.Parse()
	if *probe != "" {
		os.Exit(get(*probe))
	}
	service := envOr("SERVICE", "unknown")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"service\":%q,\"status\":\"ok\"}\n", service)
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	// PID 1 in a container gets no default signal handling; without this `docker compose down` waits 10 s.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("healthsvc %s listening on %s", service, *addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

func get(url string) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, resp.Status)
		return 1
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
