package helpercmd

import (
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/doctor"
	"github.com/currentsdev/currents/internal/ecr"
)

// newDoctor builds a Doctor whose AWS client reports the Date header of every AWS response to the clock
// check, bounded by the configured timeout.
func newDoctor(a *App) *doctor.Doctor {
	timeout := config.DefaultTimeout
	if cfg, err := a.Config(); err == nil {
		timeout = cfg.Timeout
	}
	clock := doctor.NewServerClock(nil)
	aws := ecr.New(ecr.WithTimeout(timeout), ecr.WithLogger(a.Log), ecr.WithResponseHook(clock.Observe))
	return doctor.New(aws, doctor.WithConfig(a.Config), doctor.WithServerTime(clock.Latest))
}
