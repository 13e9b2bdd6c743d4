package doctor_test

import (
	"time"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/doctor"
)

// newAWS builds the client doctor drives, as the doctor command does.
func newAWS() doctor.AWS { return awsapi.New(awsapi.WithTimeout(10 * time.Second)) }
