package doctor_test

import (
	"github.com/currentsdev/currents/internal/doctor"
	"github.com/currentsdev/currents/internal/ecr"
)

// newAWS builds the client doctor drives, reporting AWS's Date headers to clock.
func newAWS(clock *doctor.ServerClock) doctor.AWS {
	_ = clock // TODO: ecr.WithResponseHook(clock.Observe) once internal/ecr has it
	return ecr.New()
}
