package stack

import (
	"context"
	"sort"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
)

// preview reads, from compose-go's model of the project (its files loaded,
// merged and interpolated, before the project is built from them or
// validated), the services the project pulls whatever its profiles: those
// with an image and none of profiles, provider or build, no pull_policy
// never or build, and an image no service builds. Each is diagnosed as
// loadSelection diagnoses it, from the same environment and raw images, so
// its reference, and whether the check asks for it, are those of the stack.
func preview(ctx context.Context, o Options, raw *raws) (*Stack, error) {
	var passes [][]string
	po, err := o.projectOptions(func(files []string) { passes = append(passes, files) })
	if err != nil {
		return nil, err
	}
	// As LoadProject loads the model, environment included (LoadModel
	// interpolates without it), minus the validation.
	wd, err := po.GetWorkingDir()
	if err != nil {
		return nil, err
	}
	files, err := po.ReadConfigFiles(ctx, wd, po)
	if err != nil {
		return nil, err
	}
	model, err := loader.LoadModelWithContext(ctx, types.ConfigDetails{ConfigFiles: files.ConfigFiles, WorkingDir: files.WorkingDir, Environment: po.Environment},
		func(lo *loader.Options) {
			lo.SkipValidation = true
			// Defaults, normalisation and absolute paths change none of
			// what the preview reads (image, platform, pull_policy never
			// or build, and whether build, profiles or provider are set).
			lo.SkipDefaultValues, lo.SkipNormalization, lo.ResolvePaths = true, true, false
			// The full load says what compose says about unset variables, once.
			lo.Interpolate.Substitute = func(s string, m template.Mapping) (string, error) {
				return template.SubstituteWithOptions(s, m, template.WithoutLogging)
			}
			raw.watch(lo)
		})
	if err != nil {
		return nil, err
	}
	services, _ := model["services"].(map[string]any)
	built := map[string]bool{}
	for _, s := range services {
		if m, _ := s.(map[string]any); m["build"] != nil {
			if img, ok := m["image"].(string); ok {
				built[img] = true
			}
		}
	}
	env := newEnvironment(po.Environment, passes)
	st := &Stack{}
	for name, s := range services {
		m, _ := s.(map[string]any)
		img, ok := m["image"].(string)
		policy, _ := m["pull_policy"].(string)
		if !ok || built[img] || m["profiles"] != nil || m["provider"] != nil || m["build"] != nil ||
			policy == types.PullPolicyNever || policy == types.PullPolicyBuild {
			continue
		}
		platform, _ := m["platform"].(string)
		svc := Service{Name: name, Kind: Pulled, Image: img, Raw: raw.of(name, img), Platform: platform}
		diagnose(&svc, env.of(raw, svc.Raw, img))
		st.Services = append(st.Services, svc)
	}
	sort.Slice(st.Services, func(i, j int) bool { return st.Services[i].Name < st.Services[j].Name })
	return st, nil
}
