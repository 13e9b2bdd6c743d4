// Package dockerconfig edits the docker CLI's config.json the way a careful human would: it changes only the
// entries it owns, keeps every other byte (keys, order, indentation, unknown keys), and replaces the file
// atomically with a backup of what was there.
package dockerconfig

import "github.com/currentsdev/currents/internal/atomicfile"

// BackupSuffix is appended to the path of config.json for the copy of its previous content that Save leaves.
// One backup is kept: it holds the bytes as they were before the most recent change.
const BackupSuffix = atomicfile.BackupSuffix
