// Package updatetest holds the power-cut test of firmware updates on the
// sim board: the real tipring binary under `tipring boot`, killed with
// SIGKILL at every step of an install, must always come back serving its
// management API from a complete, verified image; and a new image that
// never confirms its health is rolled back by itself.
package updatetest
