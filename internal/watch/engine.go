package watch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/moby/moby/client"

	"github.com/currentsdev/currents/internal/compose"
	"github.com/currentsdev/currents/internal/stack"
)

// Engine is what --deploy needs of the Docker engine and compose: the
// container a service runs, image tags, and compose itself. The watch never
// creates or removes containers: compose does.
type Engine interface {
	// Container is the project's service's container; ok is false when it
	// has none.
	Container(ctx context.Context, project, service string) (c Container, ok bool, err error)
	// Tag gives the image (by ID) another name.
	Tag(ctx context.Context, imageID, ref string) error
	// Untag removes a name, never the image under it.
	Untag(ctx context.Context, ref string) error
	// Compose runs `docker compose [project flags] sub args…`.
	Compose(ctx context.Context, sub string, args ...string) error
}

// Container is a service's container as the engine reports it.
type Container struct {
	ID, ImageID string
	// RepoDigests are the digests its image was pulled by (repo@sha256:…).
	RepoDigests []string
	Running     bool
	// Stopped is a container left stopped or never started (exited,
	// created, dead): `docker compose stop`, `up --no-start`, or a crash
	// without a restart policy. A restarting or paused one is not stopped:
	// the operator left it up.
	Stopped bool
	// Health is "healthy", "unhealthy", "starting", or "" without a
	// healthcheck.
	Health string
}

// Healthy is the rule: its healthcheck passes, or it runs when it
// has none.
func (c Container) Healthy() bool {
	if c.Health != "" {
		return c.Running && c.Health == "healthy"
	}
	return c.Running
}

// DigestIn is the digest the container's image was pulled by from repo
// ("registry/path"), "" when it was not.
func (c Container) DigestIn(repo string) string {
	for _, rd := range c.RepoDigests {
		if r, d, ok := strings.Cut(rd, "@"); ok && r == repo {
			return d
		}
	}
	return ""
}

// DockerEngine is the Engine of the docker CLI's current context.
type DockerEngine struct {
	API     client.APIClient
	Project stack.Options
	Log     *slog.Logger
}

// Container implements Engine.
func (e *DockerEngine) Container(ctx context.Context, project, service string) (Container, bool, error) {
	list, err := e.API.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.
		Add("label", "com.docker.compose.project="+project, "com.docker.compose.service="+service)})
	if err != nil {
		return Container{}, false, fmt.Errorf("listing %s's containers: %w", service, err)
	}
	// Several replicas share one image; the first says it. A one-off
	// (`docker compose run` left without --rm) carries the service's labels
	// but is not what the service runs: compose's own rule.
	id := ""
	for _, c := range list.Items {
		if c.Labels["com.docker.compose.oneoff"] != "True" {
			id = c.ID
			break
		}
	}
	if id == "" {
		return Container{}, false, nil
	}
	in, err := e.API.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return Container{}, false, fmt.Errorf("inspecting %s's container: %w", service, err)
	}
	c := Container{ID: in.Container.ID, ImageID: in.Container.Image}
	if s := in.Container.State; s != nil {
		c.Running = s.Running && !s.Restarting
		c.Stopped = !s.Running && !s.Restarting && !s.Paused
		if s.Health != nil {
			c.Health = string(s.Health.Status)
		}
	}
	img, err := e.API.ImageInspect(ctx, c.ImageID)
	if err != nil {
		return Container{}, false, fmt.Errorf("inspecting %s's image: %w", service, err)
	}
	c.RepoDigests = img.RepoDigests
	return c, true, nil
}

// Tag implements Engine.
func (e *DockerEngine) Tag(ctx context.Context, imageID, ref string) error {
	_, err := e.API.ImageTag(ctx, client.ImageTagOptions{Source: imageID, Target: ref})
	return err
}

// Untag implements Engine.
func (e *DockerEngine) Untag(ctx context.Context, ref string) error {
	_, err := e.API.ImageRemove(ctx, ref, client.ImageRemoveOptions{})
	return err
}

// Compose implements Engine: compose's output becomes log lines.
func (e *DockerEngine) Compose(ctx context.Context, sub string, args ...string) error {
	cmd, err := compose.Command(ctx, e.Project, sub, args...)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var wg sync.WaitGroup
	var last []string
	wg.Go(func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			e.Log.Info("compose", "command", sub, "output", line)
			last = append(last, line)
			if len(last) > 5 {
				last = last[1:]
			}
		}
	})
	err = cmd.Run()
	pw.Close()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("docker compose %s %s: %w: %s", sub, strings.Join(args, " "), err, strings.Join(last, "; "))
	}
	return nil
}
