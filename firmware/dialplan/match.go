package dialplan

import (
	"strings"
	"time"
)

// Action is what the line should do with the digits so far.
type Action int

const (
	// Continue: wait for another digit, at most Result.Timeout, then call
	// Timeout.
	Continue Action = iota + 1
	// Dial: the number is complete; dial Result.Number now.
	Dial
	// Reject: no rule can match; play reorder.
	Reject
	// Block: the number matches a "!" rule; play reorder.
	Block
)

func (a Action) String() string {
	switch a {
	case Continue:
		return "continue"
	case Dial:
		return "dial"
	case Reject:
		return "reject"
	case Block:
		return "block"
	}
	return "unknown"
}

// Result is the plan's verdict on the digits so far.
type Result struct {
	Action Action
	// Number is what to dial, after the rule's transforms (Dial only).
	Number string
	// Timeout is how long to wait for the next digit before calling
	// Plan.Timeout (Continue only).
	Timeout time.Duration
	// Rule is the index of the rule the verdict rests on, for logs: the
	// rule dialled or blocked, or on Continue the best complete rule; -1
	// when there is none.
	Rule int
	// SecondaryDialTone: the digits just reached a "," in a rule that can
	// still match; play dial tone until the next digit (Continue only).
	SecondaryDialTone bool
}

// Match says what to do after the digits pressed so far (possibly none, and
// possibly ending with "#"). See the package documentation for the rules.
func (p *Plan) Match(digits string) Result {
	return p.decide(digits, false)
}

// Timeout says what to do when the timer given by the last Match for these
// digits expired: Dial if a rule is complete for them (with or without T),
// Block if that rule is a "!" rule, otherwise Reject.
func (p *Plan) Timeout(digits string) Result {
	return p.decide(digits, true)
}

var rejected = Result{Action: Reject, Rule: -1}

func validDigits(digits string) bool {
	if len(digits) > MaxDigits {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if keyIndex(digits[i]) < 0 {
			return false
		}
	}
	return true
}

func (p *Plan) decide(digits string, expired bool) Result {
	if !validDigits(digits) {
		return rejected
	}
	v := p.evaluate(digits)
	if !v.alive && strings.HasSuffix(digits, "#") {
		// "#" as the send key: nothing takes it as a key.
		before := digits[:len(digits)-1]
		if w := p.evaluate(before); w.best >= 0 {
			return p.finish(w.best, before)
		}
		return rejected
	}
	if !v.alive {
		return rejected
	}
	if v.onlyBlock && digits != "" {
		rule := v.best
		if rule < 0 {
			rule = v.firstAlive
		}
		return Result{Action: Block, Rule: rule}
	}
	if expired {
		if v.best >= 0 {
			return p.finish(v.best, digits)
		}
		return rejected
	}
	if v.best >= 0 {
		r := &p.rules[v.best]
		if (!v.open && !r.timeout) || r.short == 0 {
			return p.finish(v.best, digits)
		}
		return Result{Action: Continue, Timeout: r.short, Rule: v.best, SecondaryDialTone: v.comma && digits != ""}
	}
	if v.long == 0 {
		return rejected
	}
	return Result{Action: Continue, Timeout: v.long, Rule: -1, SecondaryDialTone: v.comma && digits != ""}
}

// finish dials or blocks with rule i for digits.
func (p *Plan) finish(i int, digits string) Result {
	r := &p.rules[i]
	if r.block {
		return Result{Action: Block, Rule: i}
	}
	n := r.number(digits)
	if n == "" {
		return rejected
	}
	return Result{Action: Dial, Number: n, Rule: i}
}

// verdict sums up how every rule stands against the digits.
type verdict struct {
	alive, open bool
	// onlyBlock: every alive rule is a "!" rule.
	onlyBlock  bool
	firstAlive int
	// best is the most specific complete rule, -1 if none.
	best      int
	bestScore int32
	bestOpen  bool
	// long is the longest long timer among the open rules' positions.
	long  time.Duration
	comma bool
}

func (p *Plan) evaluate(digits string) verdict {
	v := verdict{onlyBlock: true, firstAlive: -1, best: -1}
	for i := range p.rules {
		r := &p.rules[i]
		st := r.run(digits)
		if !st.open && !st.complete {
			continue
		}
		if !v.alive {
			v.alive, v.firstAlive = true, i
		}
		if !r.block {
			v.onlyBlock = false
		}
		if st.open {
			v.open = true
			v.long = max(v.long, st.long)
		}
		v.comma = v.comma || st.comma
		// Without digits only a rule that inserts something has a number.
		if st.complete && (digits != "" || r.inserts != nil) {
			if v.best < 0 || st.score > v.bestScore || (st.score == v.bestScore && v.bestOpen && !st.open) {
				v.best, v.bestScore, v.bestOpen = i, st.score, st.open
			}
		}
	}
	if !v.alive {
		v.onlyBlock = false
	}
	return v
}

// ruleState is how one rule stands against the digits.
type ruleState struct {
	complete, open, comma bool
	// score ranks the best way the rule matched all the digits.
	score int32
	long  time.Duration
}

// positions holds, per position of a rule, the best score of a match of the
// digits so far that stands there, or -1.
type positions [maxSteps + 1]int32

// run matches the digits against the rule. It keeps, for every position,
// the best score of the ways the digits can lead there (a dynamic programme
// over the rule's positions), so the work is linear in digits×positions
// whatever the stars, and nothing is allocated.
func (r *rule) run(digits string) ruleState {
	n := len(r.steps)
	var a, b positions
	cur, next := &a, &b
	for q := 1; q <= n; q++ {
		cur[q] = -1
	}
	r.closure(cur)
	for i := 0; i < len(digits); i++ {
		key := keySet(1) << keyIndex(digits[i])
		alive := false
		for q := 0; q <= n; q++ {
			next[q] = -1
		}
		for q := 0; q < n; q++ {
			v := cur[q]
			if v < 0 {
				continue
			}
			st := &r.steps[q]
			if st.set&key == 0 {
				continue
			}
			to := q + 1
			if st.star {
				to = q
			}
			if v += st.weight; v > next[to] {
				next[to] = v
			}
			alive = true
		}
		if !alive {
			return ruleState{}
		}
		r.closure(next)
		cur, next = next, cur
	}
	var st ruleState
	for q := 0; q < n; q++ {
		if cur[q] < 0 {
			continue
		}
		st.open = true
		st.long = max(st.long, r.long[q])
		if r.comma&(1<<q) != 0 {
			st.comma = true
		}
	}
	if cur[n] >= 0 {
		st.complete, st.score = true, cur[n]
	}
	return st
}

// closure lets a match skip starred steps (zero repetitions).
func (r *rule) closure(c *positions) {
	for q, st := range r.steps {
		if st.star && c[q] > c[q+1] {
			c[q+1] = c[q]
		}
	}
}

// number is what the rule sends for digits it matches completely.
func (r *rule) number(digits string) string {
	if r.plain {
		return digits
	}
	n := len(r.steps)
	// via[i][q] is the step that consumed digit i on the best match standing
	// at position q after it.
	var via [MaxDigits][maxSteps + 1]uint8
	var a, b positions
	cur, next := &a, &b
	for q := 1; q <= n; q++ {
		cur[q] = -1
	}
	r.closure(cur)
	for i := 0; i < len(digits); i++ {
		key := keySet(1) << keyIndex(digits[i])
		for q := 0; q <= n; q++ {
			next[q] = -1
		}
		for q := 0; q < n; q++ {
			v := cur[q]
			st := &r.steps[q]
			if v < 0 || st.set&key == 0 {
				continue
			}
			to := q + 1
			if st.star {
				to = q
			}
			if v += st.weight; v > next[to] {
				next[to], via[i][to] = v, uint8(q)
			}
		}
		for q, st := range r.steps {
			if st.star && next[q] > next[q+1] {
				next[q+1], via[i][q+1] = next[q], via[i][q]
			}
		}
		cur, next = next, cur
	}
	if cur[n] < 0 {
		return "" // not a complete match; callers only ask for those
	}
	// Walk back from the end: the step that consumed digit i started at
	// its own position, where the match stood after digit i-1.
	var by [MaxDigits]uint8
	q := n
	for i := len(digits) - 1; i >= 0; i-- {
		by[i] = via[i][q]
		q = int(by[i])
	}
	size := len(digits)
	for _, s := range r.inserts {
		size += len(s)
	}
	var out strings.Builder
	out.Grow(size)
	d := 0
	for q := 0; q <= n; q++ {
		if r.inserts != nil {
			out.WriteString(r.inserts[q])
		}
		for ; d < len(digits) && int(by[d]) == q; d++ {
			if r.steps[q].emit {
				out.WriteByte(digits[d])
			}
		}
	}
	return out.String()
}
