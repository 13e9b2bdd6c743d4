// Package bench is `make bench`'s comparison of the shipped programs with the
// peers a user would run instead: docker-credential-ecr-login for the helper,
// crane for check and mirror, and a trivial Go binary as the floor of a warm
// get and of the plugin's answer to docker's metadata question. Its
// benchmarks (all in _test files) run whole processes against the stand-in,
// interleaved round by round with the peer so machine noise hits both alike,
// and print each figure as a ratio to the peer together with the AWS calls,
// registry requests and processes each side cost.
//
// The peers are built from the Go module proxy at pinned versions by
// scripts/peers.sh, once per machine. BENCH_BASE=REV adds that revision's
// programs as a third contender, so one run gives every ratio before and
// after a change.
package bench
