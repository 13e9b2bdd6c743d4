package credhelpercmd

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/kubelet"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/tokencache"
)

func newKubeletCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "kubelet",
		Short: "the kubelet's image credential provider: a CredentialProviderRequest on stdin, the response on stdout",
		Long: `kubelet answers the kubelet's image credential provider protocol (credentialprovider.kubelet.k8s.io/v1)
for the image's registry, mapped through currents.yaml exactly as get maps a host, from the same cache.
Name the binary in the kubelet's CredentialProviderConfig with args: [kubelet]; see the README's
Kubernetes section. The answer has cacheKeyType Registry and a cacheDuration that ends when the helper
itself would refresh the token; a registry it does not handle gets an empty auth.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := a.kubelet()
			if err != nil {
				kubelet.Report(a.Err, err)
				return exitError{1}
			}
			return nil
		},
	}
}

// kubelet answers one request, refreshing in-process under the cache lock.
func (a *App) kubelet() error {
	cfg, err := a.Config()
	if err != nil {
		return err
	}
	req, _, err := kubelet.ReadRequest(a.In, cfg.Timeout)
	if err != nil {
		return err
	}
	cache, err := a.Cache()
	if err != nil {
		cache = tokencache.Disabled(err, tokencache.WithLogger(a.Log))
	}
	opts := []awsapi.Option{awsapi.WithTimeout(cfg.Timeout), awsapi.WithLogger(a.Log), awsapi.WithConfigReuse()}
	if !req.ServiceAccountToken.IsZero() {
		opts = append(opts, awsapi.WithServiceAccountToken(req.ServiceAccountToken))
	}
	f := &refresh.Fetcher{Cache: cache, AWS: awsapi.New(opts...), Timeout: cfg.Timeout, Log: a.Log, Inherited: refresh.InheritedLock()}
	ans := &kubelet.Answerer{Config: cfg, Cache: cache, Getenv: os.Getenv, Refresh: f.Refresh}
	ctx, cancel := context.WithTimeout(context.Background(), refresh.Budget(cfg.Timeout))
	defer cancel()
	resp, err := ans.Answer(ctx, req)
	if err != nil {
		return err
	}
	return resp.Write(a.Out)
}
