package order

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

type rec struct {
	key, seq int
}

func byKey(a, b rec) int { return cmp.Compare(a.key, b.key) }

func TestSortsLikeSlices(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 200 {
		s := make([]rec, n)
		for i := range s {
			s[i] = rec{key: r.IntN(10), seq: i}
		}
		want := slices.Clone(s)
		slices.SortStableFunc(want, byKey)
		got := slices.Clone(s)
		Stable(got, byKey)
		if !slices.Equal(got, want) {
			t.Fatalf("Stable(%d elements) differs from slices.SortStableFunc", n)
		}
		got = slices.Clone(s)
		Sort(got, byKey)
		if !slices.IsSortedFunc(got, byKey) {
			t.Fatalf("Sort(%d elements) is not sorted", n)
		}
	}
}
