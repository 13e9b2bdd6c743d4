package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/moby/moby/client"
)

// labelledEngine answers as the engine's API does, from its JSON: the
// containers whose labels match every label filter (newest first), inspect
// by ID, images by ID.
type labelledEngine struct {
	client.APIClient                   // the rest is never called
	containers       []string          // container summaries, JSON
	inspect, images  map[string]string // by ID, JSON
}

func (e *labelledEngine) ContainerList(_ context.Context, o client.ContainerListOptions) (client.ContainerListResult, error) {
	var out client.ContainerListResult
	var matched []string
	for _, raw := range e.containers {
		var c struct{ Labels map[string]string }
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return out, err
		}
		match := true
		for f := range o.Filters["label"] {
			k, v, _ := strings.Cut(f, "=")
			if got, ok := c.Labels[k]; !ok || got != v {
				match = false
			}
		}
		if match {
			matched = append(matched, raw)
		}
	}
	return out, json.Unmarshal([]byte("["+strings.Join(matched, ",")+"]"), &out.Items)
}

func (e *labelledEngine) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	var out client.ContainerInspectResult
	raw, ok := e.inspect[id]
	if !ok {
		return out, fmt.Errorf("no such container %s", id)
	}
	return out, json.Unmarshal([]byte(raw), &out.Container)
}

func (e *labelledEngine) ImageInspect(_ context.Context, id string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	var out client.ImageInspectResult
	return out, json.Unmarshal([]byte(e.images[id]), &out.InspectResponse)
}

// TestOneOffContainerIsNotTheService: an operator ran `docker compose run
// api migrate` without --rm, which leaves a stopped container labelled with
// the project and the service (and oneoff True), newer than the service's
// own. It is not what the service runs: read as the service, it made the
// deployed digest the one-off's and judged a healthy deploy unhealthy
// (stopped), rolling it back.
func TestOneOffContainerIsNotTheService(t *testing.T) {
	const labels = `"com.docker.compose.project":"currents","com.docker.compose.service":"api"`
	e := &DockerEngine{API: &labelledEngine{
		containers: []string{
			`{"Id":"run-1","ImageID":"sha256:old","State":"exited","Labels":{` + labels + `,"com.docker.compose.oneoff":"True"}}`,
			`{"Id":"api-1","ImageID":"sha256:new","State":"running","Labels":{` + labels + `,"com.docker.compose.oneoff":"False"}}`,
		},
		inspect: map[string]string{
			"run-1": `{"Id":"run-1","Image":"sha256:old","State":{"Status":"exited","Running":false}}`,
			"api-1": `{"Id":"api-1","Image":"sha256:new","State":{"Status":"running","Running":true}}`,
		},
		images: map[string]string{"sha256:old": `{"Id":"sha256:old","RepoDigests":["reg/api@sha256:a"]}`,
			"sha256:new": `{"Id":"sha256:new","RepoDigests":["reg/api@sha256:b"]}`},
	}}
	c, ok, err := e.Container(context.Background(), "currents", "api")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if c.ID != "api-1" || !c.Healthy() || c.DigestIn("reg/api") != "sha256:b" {
		t.Errorf("the service's container read as %+v, want api-1 running sha256:b", c)
	}
}

// TestStoppedContainerReadsStopped: `docker compose stop` leaves the
// container exited; a restarting (crash-looping) one was left up.
func TestStoppedContainerReadsStopped(t *testing.T) {
	const labels = `"com.docker.compose.project":"currents","com.docker.compose.service":"api"`
	for state, stopped := range map[string]bool{
		`{"Status":"exited","Running":false,"ExitCode":0}`:         true,
		`{"Status":"created","Running":false}`:                     true,
		`{"Status":"restarting","Running":true,"Restarting":true}`: false,
		`{"Status":"paused","Running":true,"Paused":true}`:         false,
		`{"Status":"running","Running":true}`:                      false,
	} {
		e := &DockerEngine{API: &labelledEngine{
			containers: []string{`{"Id":"api-1","ImageID":"sha256:a","Labels":{` + labels + `}}`},
			inspect:    map[string]string{"api-1": `{"Id":"api-1","Image":"sha256:a","State":` + state + `}`},
			images:     map[string]string{"sha256:a": `{"Id":"sha256:a","RepoDigests":["reg/api@sha256:a"]}`},
		}}
		c, ok, err := e.Container(context.Background(), "currents", "api")
		if err != nil || !ok || c.Stopped != stopped {
			t.Errorf("state %s: %+v %v %v, want stopped %v", state, c, ok, err, stopped)
		}
	}
}
