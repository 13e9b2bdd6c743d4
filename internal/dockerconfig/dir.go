// Package dockerconfig edits the docker CLI's config.json the way a careful human would: it changes only the
// entries it owns, keeps every other byte (keys, order, indentation, unknown keys), and replaces the file
// atomically with a backup of what was there.
package dockerconfig

import (
	"fmt"
	"github.com/currentsdev/currents/internal/atomicfile"
	"os"
	"path/filepath"

	"github.com/currentsdev/currents/internal/config"
)

// FileName is the docker CLI's configuration file inside the config directory.
const FileName = "config.json"

// BackupSuffix is appended to the path of config.json for the copy of its previous content that Save leaves.
// One backup is kept: it holds the bytes as they were before the most recent change.
const BackupSuffix = atomicfile.BackupSuffix

// Dir returns the docker config directory exactly as the docker CLI chooses it: the --config flag value when
// one is given, else $DOCKER_CONFIG, else ~/.docker (HOME, or the user's passwd entry without it).
func Dir(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d, nil
	}
	// Without HOME (services, cron) docker falls back to the passwd entry; so does config.HomeDir.
	home, err := config.HomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the docker config directory: DOCKER_CONFIG is not set and %v; set DOCKER_CONFIG", err)
	}
	return filepath.Join(home, ".docker"), nil
}

// Path returns the path of config.json in the directory Dir(flagValue) chooses.
func Path(flagValue string) (string, error) {
	d, err := Dir(flagValue)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, FileName), nil
}
