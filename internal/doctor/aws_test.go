package doctor_test

import (
	"time"

	"github.com/currentsdev/currents/internal/doctor"
	"github.com/currentsdev/currents/internal/ecr"
)

// newAWS builds the client doctor drives, as the doctor command does.
func newAWS() doctor.AWS { return ecr.New(ecr.WithTimeout(10 * time.Second)) }
