package seed_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/seed"
)

func TestStack(t *testing.T) {
	aws := standin.New()
	defer aws.Close()
	reg := standin.NewRegistry(aws, standin.WithRequireRepositories())
	defer reg.Close()

	digests, err := seed.Stack(context.Background(), reg, "currents/on-prem", "staging")
	if err != nil {
		t.Fatal(err)
	}
	if len(digests) != len(seed.Services) {
		t.Fatalf("pushed %d services", len(digests))
	}
	user, pass, _ := aws.MintToken("arn:aws:iam::513558712013:root", time.Minute)
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	for _, svc := range seed.Services {
		ref := mustRef(t, reg.Host()+"/currents/on-prem/"+svc+":staging")
		desc, err := remote.Get(ref, auth)
		if err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
		if desc.Digest != digests[svc] {
			t.Errorf("%s: digest %s, pushed %s", svc, desc.Digest, digests[svc])
		}
		if desc.MediaType.IsIndex() != (svc == seed.MultiPlatformService) {
			t.Errorf("%s: media type %s", svc, desc.MediaType)
		}
		if !aws.HasRepository(reg.Account(), reg.Region(), "currents/on-prem/"+svc) {
			t.Errorf("%s: repository not created", svc)
		}
	}
	idx, err := remote.Index(mustRef(t, reg.Host()+"/currents/on-prem/api:staging"), auth)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 2 || m.Manifests[0].Platform.Architecture != "amd64" || m.Manifests[1].Platform.Architecture != "arm64" {
		t.Errorf("index platforms %+v", m.Manifests)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
