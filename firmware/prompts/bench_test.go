package prompts

import "testing"

// BenchmarkLoad is the start-up cost: decoding every prompt once.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load("data"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBalanceClip is what the star code costs before the first word
// plays: the words for a balance and the clip made of them.
func BenchmarkBalanceClip(b *testing.B) {
	s, err := Load("data")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Clip(BalanceSentence(123_450_000, "USD", 87)...); err != nil {
			b.Fatal(err)
		}
	}
}
