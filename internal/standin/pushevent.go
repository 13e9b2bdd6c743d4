package standin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
)

// pushed names a manifest PUT: the repository and the tag it is pushed by.
type pushed struct {
	repository, tag, mediaType string
}

// manifestPush recognises PUT /v2/<name>/manifests/<tag>: a push by tag,
// which ECR announces with an event. Pushes by digest (the platform
// manifests of an index, pushed before it) are not announced.
func manifestPush(req *http.Request) *pushed {
	if req.Method != http.MethodPut || pathKind(req.URL.Path) != "manifests" {
		return nil
	}
	ref := req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]
	if ref == "" || strings.Contains(ref, ":") {
		return nil
	}
	return &pushed{repository: repoFromPath(req.URL.Path), tag: ref, mediaType: req.Header.Get("Content-Type")}
}

// announce puts the "ECR Image Action" event of a successful push on the
// event bus of the front's account and region, as ECR does.
func (r *Registry) announce(p pushed, manifest []byte) {
	sum := sha256.Sum256(manifest)
	var m struct {
		Config struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
	}
	_ = json.Unmarshal(manifest, &m)
	r.aws.PutECREvent(ECREvent{
		Account: r.set.account,
		Region:  r.set.region,
		Detail: ECREventDetail{
			Result:            "SUCCESS",
			RepositoryName:    p.repository,
			ImageDigest:       "sha256:" + hex.EncodeToString(sum[:]),
			ActionType:        "PUSH",
			ImageTag:          p.tag,
			ManifestMediaType: p.mediaType,
			ArtifactMediaType: m.Config.MediaType,
		},
	})
}
