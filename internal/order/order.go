// Package order sorts slices by a comparison function, as slices.SortFunc
// and slices.SortStableFunc do, with one shared sorting routine.
//
// slices.SortFunc is generic: each element type (each struct "shape") gets
// its own copy of pdqsort, about 12 KB of machine code on arm with its
// tables. A device sorts a dozen kinds of records, none of them on a hot
// path, and carries its firmware in a few megabytes of flash, so these
// wrappers sort through the sort package's single, reflection-swapped
// implementation instead: each instantiation here is only a small closure.
// Use slices.SortFunc where sorting is hot.
package order

import "sort"

// Sort sorts s by cmp (negative: a before b), not stably.
func Sort[T any](s []T, cmp func(a, b T) int) {
	sort.Slice(s, func(i, j int) bool { return cmp(s[i], s[j]) < 0 })
}

// Stable sorts s by cmp, keeping equal elements in their order.
func Stable[T any](s []T, cmp func(a, b T) int) {
	sort.SliceStable(s, func(i, j int) bool { return cmp(s[i], s[j]) < 0 })
}
