package helpercmd

import (
	"github.com/currentsdev/currents/internal/doctor"
	"github.com/currentsdev/currents/internal/ecr"
)

// newDoctorAWS builds the AWS client doctor drives. It is the App's client until internal/ecr can report
// AWS's Date header for the clock check.
func newDoctorAWS(a *App) doctor.AWS {
	c, err := a.AWS()
	if err != nil {
		return ecr.New(ecr.WithLogger(a.Log))
	}
	return c
}

func doctorOptions(a *App) []doctor.Option {
	return []doctor.Option{doctor.WithConfig(a.Config)}
}
