package dialplan

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults and limits.
const (
	// DefaultShortTimer is the short inter-digit timer when Options leave it
	// zero: the wait after digits that already form a number but could grow.
	DefaultShortTimer = 4 * time.Second
	// DefaultLongTimer is the long inter-digit timer when Options leave it
	// zero: the wait while more digits are required, and for the first one.
	DefaultLongTimer = 10 * time.Second
	// MaxDigits is the longest digit string Match and Timeout consider; more
	// is rejected. It bounds the work per digit and keeps Match free of
	// allocations.
	MaxDigits = 64
	// MaxPlanLen is the longest plan text Parse accepts, in bytes.
	MaxPlanLen = 8192
	// MaxTimerSeconds is the largest timer value a plan may give.
	MaxTimerSeconds = 300

	// maxSteps keeps a rule's positions (steps+1) within the fixed arrays
	// the matcher uses on the stack.
	maxSteps = 63
)

// Options are the plan's default timers, typically from the device
// configuration. A zero value means the package default.
type Options struct {
	ShortTimer time.Duration
	LongTimer  time.Duration
}

// SyntaxError is a problem in the plan text.
type SyntaxError struct {
	// Pos is the 0-based byte offset of the problem in the plan text.
	Pos int
	// Msg says what is wrong, quoting the plan text.
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("dial plan: position %d: %s", e.Pos, e.Msg)
}

// Plan is a parsed dial plan. It is immutable and safe for concurrent use.
type Plan struct {
	rules []rule
	// short and long are the plan's timers after Options and the "S:"/"L:"
	// prefixes.
	short, long time.Duration
	// textShort and textLong are the "S:n," and "L:n," prefixes as written,
	// -1 when absent, so that String reproduces them.
	textShort, textLong int
}

// keySet is a set of keys, bit i standing for keyChars[i].
type keySet uint16

const (
	keyChars           = "0123456789*#ABCD"
	digitKeys   keySet = 1<<10 - 1
	literalBias        = 1 << 16
)

func keyIndex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c == '*':
		return 10
	case c == '#':
		return 11
	case c >= 'A' && c <= 'D':
		return 12 + int(c-'A')
	}
	return -1
}

type itemKind uint8

const (
	itemKeys      itemKind = iota // one key out of set, repeated if star
	itemTransform                 // <in:out>
	itemComma                     // secondary dial tone
	itemShort                     // S override
	itemLong                      // L override
)

// item is one element of a rule as written (normalised), kept so that
// String can print the plan back.
type item struct {
	kind    itemKind
	set     keySet
	star    bool
	in, out string
	secs    int
}

// step is one key-consuming position of a compiled rule.
type step struct {
	set  keySet
	star bool
	// emit is false for the keys of an <in:out> transform: they are dialled
	// but not sent.
	emit bool
	// weight ranks how specifically this step matched a digit: a single key
	// outranks any number of wider sets, narrower sets outrank wider ones.
	weight int32
}

type rule struct {
	items   []item
	timeout bool // T
	block   bool // !

	steps []step
	// inserts[p] is sent when a match passes position p (before step p);
	// nil when the rule inserts nothing.
	inserts []string
	// comma has bit p set when a "," stands at position p.
	comma uint64
	// long[p] is the long timer while the rule waits at position p.
	long []time.Duration
	// short is the short timer when the rule is the best complete one.
	short time.Duration
	// plain rules send exactly the digits they match.
	plain bool
}

func stepWeight(s keySet) int32 {
	n := bits.OnesCount16(uint16(s))
	w := int32(16 - n)
	if n == 1 {
		w += literalBias
	}
	return w
}

// Parse parses a dial plan. opts gives the default timers; "S:n," and "L:n,"
// before the rules override them. A problem in the text is a *SyntaxError;
// negative timers in opts are a plain error.
func Parse(s string, opts Options) (*Plan, error) {
	if opts.ShortTimer < 0 || opts.LongTimer < 0 {
		return nil, errors.New("dial plan: timers must not be negative")
	}
	if len(s) > MaxPlanLen {
		return nil, &SyntaxError{Pos: MaxPlanLen, Msg: fmt.Sprintf("dial plan is %d bytes long, more than %d", len(s), MaxPlanLen)}
	}
	pl := &Plan{
		short:     opts.ShortTimer,
		long:      opts.LongTimer,
		textShort: -1,
		textLong:  -1,
	}
	if pl.short == 0 {
		pl.short = DefaultShortTimer
	}
	if pl.long == 0 {
		pl.long = DefaultLongTimer
	}
	p := &parser{s: s}
	if err := p.plan(pl); err != nil {
		return nil, err
	}
	for i := range pl.rules {
		pl.rules[i].compile(pl.short, pl.long)
	}
	return pl, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) errorf(pos int, format string, args ...any) error {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...) + " in " + excerpt(p.s, pos)}
}

// excerpt quotes the plan, or the part of a long plan around pos.
func excerpt(s string, pos int) string {
	const before, after = 24, 40
	if len(s) <= before+after {
		return strconv.Quote(s)
	}
	from, to := max(pos-before, 0), min(pos+after, len(s))
	for from > 0 && !utf8.RuneStart(s[from]) {
		from--
	}
	for to < len(s) && !utf8.RuneStart(s[to]) {
		to++
	}
	q := strconv.Quote(s[from:to])
	if from > 0 {
		q = "…" + q
	}
	if to < len(s) {
		q += "…"
	}
	return q
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func (p *parser) skipSpace() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

// char describes the (possibly multi-byte) character at pos for messages.
func (p *parser) char(pos int) string {
	r, _ := utf8.DecodeRuneInString(p.s[pos:])
	if r == utf8.RuneError {
		return fmt.Sprintf("byte 0x%02x", p.s[pos])
	}
	return strconv.QuoteRune(r)
}

func (p *parser) plan(pl *Plan) error {
	s := p.s
	p.skipSpace()
	for p.i+1 < len(s) && (s[p.i] == 'S' || s[p.i] == 'L') && s[p.i+1] == ':' {
		start, name := p.i, s[p.i:p.i+2]
		p.i += 2
		p.skipSpace()
		secs, err := p.seconds(start, name)
		if err != nil {
			return err
		}
		p.skipSpace()
		if p.i >= len(s) || s[p.i] != ',' {
			return p.errorf(p.i, "missing \",\" after %q", s[start:p.i])
		}
		p.i++
		p.skipSpace()
		d := time.Duration(secs) * time.Second
		if name == "S:" {
			if pl.textShort >= 0 {
				return p.errorf(start, "\"S:\" given twice")
			}
			pl.textShort, pl.short = secs, d
		} else {
			if pl.textLong >= 0 {
				return p.errorf(start, "\"L:\" given twice")
			}
			pl.textLong, pl.long = secs, d
		}
	}
	if p.i >= len(s) {
		return p.errorf(p.i, "empty dial plan")
	}
	open := -1
	if s[p.i] == '(' {
		open = p.i
		p.i++
	}
	for {
		r, err := p.rule()
		if err != nil {
			return err
		}
		pl.rules = append(pl.rules, r)
		if p.i >= len(s) {
			if open >= 0 {
				return p.errorf(open, "missing \")\" for \"(\"")
			}
			return nil
		}
		switch s[p.i] {
		case '|':
			p.i++
		case ')':
			if open < 0 {
				return p.errorf(p.i, "\")\" without \"(\"")
			}
			p.i++
			p.skipSpace()
			if p.i < len(s) {
				return p.errorf(p.i, "text after \")\"")
			}
			return nil
		}
	}
}

// rule parses one rule, up to "|", ")" or the end of the text.
func (p *parser) rule() (rule, error) {
	s := p.s
	var r rule
	start := p.i
	nonSpace := false
	steps, inserts := 0, 0
	tPos, bangPos, commaPos := -1, -1, -1
	for p.i < len(s) {
		c := s[p.i]
		if c == '|' || c == ')' {
			break
		}
		if isSpace(c) {
			p.i++
			continue
		}
		if !nonSpace {
			start, nonSpace = p.i, true
		}
		if bangPos >= 0 {
			return r, p.errorf(bangPos, "\"!\" must be at the end of a rule (e.g. 1900x.!), but %s follows", p.char(p.i))
		}
		isStep := c == '[' || c == '<' || c == 'x' || c == 'X' || keyIndex(c) >= 0
		if tPos >= 0 && (isStep || c == ',') {
			return r, p.errorf(p.i, "%s after \"T\": T must come after the rule's last key", p.char(p.i))
		}
		switch {
		case c == '(':
			return r, p.errorf(p.i, "\"(\" may only open the plan; rules cannot be nested")
		case c == '!':
			bangPos = p.i
			r.block = true
			p.i++
		case c == 'T':
			if tPos >= 0 {
				return r, p.errorf(p.i, "\"T\" given twice in one rule")
			}
			tPos = p.i
			r.timeout = true
			p.i++
		case c == '.':
			return r, p.errorf(p.i, "\".\" must follow a key, \"x\" or a \"[...]\" set")
		case c == ',':
			if steps == 0 {
				return r, p.errorf(p.i, "\",\" must follow a key: dial tone already plays before the first one")
			}
			if commaPos < 0 {
				r.items = append(r.items, item{kind: itemComma})
			}
			commaPos = p.i
			p.i++
		case c == 'S' || c == 'L':
			it, err := p.timer()
			if err != nil {
				return r, err
			}
			r.items = append(r.items, it)
		case c == 'P':
			return r, p.errorf(p.i, "\"P\" (pause) is not supported; for a warm line write <:number>S5 as a rule")
		case c == '<':
			it, err := p.transform()
			if err != nil {
				return r, err
			}
			if it.in != "" {
				commaPos = -1
			}
			steps += len(it.in)
			inserts += len(it.out)
			r.items = append(r.items, it)
		case c == '[' || c == 'x' || c == 'X' || keyIndex(c) >= 0:
			it, err := p.keys()
			if err != nil {
				return r, err
			}
			commaPos = -1
			steps++
			r.items = append(r.items, it)
		default:
			return r, p.errorf(p.i, "unknown character %s", p.char(p.i))
		}
		if steps > maxSteps {
			return r, p.errorf(start, "rule has more than %d keys", maxSteps)
		}
	}
	switch {
	case !nonSpace:
		what := "at the end"
		if p.i < len(s) {
			what = fmt.Sprintf("before %q", s[p.i:p.i+1])
		}
		return r, p.errorf(p.i, "empty rule %s", what)
	case steps == 0 && inserts == 0:
		return r, p.errorf(start, "rule %q has no keys to match", strings.TrimSpace(s[start:p.i]))
	case commaPos >= 0:
		return r, p.errorf(commaPos, "\",\" must be followed by more keys")
	}
	return r, nil
}

// keys parses a key, "x" or a set, with its optional ".".
func (p *parser) keys() (item, error) {
	s := p.s
	it := item{kind: itemKeys}
	switch c := s[p.i]; {
	case c == 'x' || c == 'X':
		it.set = digitKeys
		p.i++
	case c == '[':
		set, err := p.set()
		if err != nil {
			return it, err
		}
		it.set = set
	default:
		it.set = 1 << keyIndex(c)
		p.i++
	}
	j := p.i
	for j < len(s) && isSpace(s[j]) {
		j++
	}
	if j < len(s) && s[j] == '.' {
		it.star = true
		p.i = j + 1
	}
	return it, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// closer is the index of the bracket b that closes the one opened at p.i,
// or -1 when the pattern ends, or one of the bytes in stops comes, first.
func (p *parser) closer(b byte, stops string) int {
	for j := p.i + 1; j < len(p.s); j++ {
		switch c := p.s[j]; {
		case c == b:
			return j
		case strings.IndexByte(stops, c) >= 0:
			return -1
		}
	}
	return -1
}

// set parses "[...]" at p.i.
func (p *parser) set() (keySet, error) {
	s := p.s
	open := p.i
	// Find the "]" first: "1[2-9xxx" is a missing "]", not a bad "x".
	end := p.closer(']', "[|()<")
	if end < 0 {
		return 0, p.errorf(open, "unterminated \"[\"")
	}
	p.i++
	var set keySet
	for {
		c := s[p.i]
		switch {
		case p.i == end:
			p.i++
			if set == 0 {
				return 0, p.errorf(open, "empty set \"[]\"")
			}
			return set, nil
		case isSpace(c):
			p.i++
			continue
		case c == '-':
			return 0, p.errorf(p.i, "\"-\" must stand between two digits, e.g. [2-9]")
		}
		k := keyIndex(c)
		if k < 0 {
			return 0, p.errorf(p.i, "unknown character %s in a \"[...]\" set (keys 0-9 * # A-D and ranges like 2-9)", p.char(p.i))
		}
		if p.i+1 < end && s[p.i+1] == '-' {
			if p.i+2 >= end || !isDigit(s[p.i+2]) || !isDigit(c) {
				return 0, p.errorf(p.i, "bad range %q: a range runs between two digits, e.g. 2-9", s[p.i:min(p.i+3, end)])
			}
			lo, hi := c-'0', s[p.i+2]-'0'
			if lo > hi {
				return 0, p.errorf(p.i, "bad range %q: %c is greater than %c", s[p.i:p.i+3], c, s[p.i+2])
			}
			for d := lo; d <= hi; d++ {
				set |= 1 << d
			}
			p.i += 3
			continue
		}
		set |= 1 << k
		p.i++
	}
}

// transform parses "<in:out>" at p.i.
func (p *parser) transform() (item, error) {
	s := p.s
	open := p.i
	end := p.closer('>', "<|()")
	if end < 0 {
		return item{}, p.errorf(open, "unterminated \"<\"")
	}
	colon := strings.IndexByte(s[open:end], ':')
	if colon < 0 {
		return item{}, p.errorf(open, "missing \":\" in %q: write <dialled:sent>, e.g. <9:> or <:1408>", s[open:end+1])
	}
	colon += open
	if c2 := strings.IndexByte(s[colon+1:end], ':'); c2 >= 0 {
		return item{}, p.errorf(colon+1+c2, "second \":\" in %q", s[open:end+1])
	}
	var in, out []byte
	for j := open + 1; j < colon; j++ {
		c := s[j]
		switch {
		case isSpace(c):
		case keyIndex(c) >= 0:
			in = append(in, c)
		default:
			return item{}, p.errorf(j, "%s cannot be dialled inside \"<...:\": only keys 0-9 * # A-D", p.char(j))
		}
	}
	for j := colon + 1; j < end; j++ {
		c := s[j]
		switch {
		case isSpace(c):
		case keyIndex(c) >= 0 || c == '+':
			out = append(out, c)
		default:
			return item{}, p.errorf(j, "%s cannot be sent by \"<...:...>\": only keys 0-9 * # A-D and \"+\"", p.char(j))
		}
	}
	if len(in) == 0 && len(out) == 0 {
		return item{}, p.errorf(open, "%q changes nothing", s[open:end+1])
	}
	p.i = end + 1
	return item{kind: itemTransform, in: string(in), out: string(out)}, nil
}

// timer parses an S or L override inside a rule.
func (p *parser) timer() (item, error) {
	start := p.i
	name := p.s[start : start+1]
	if start+1 < len(p.s) && p.s[start+1] == ':' {
		return item{}, p.errorf(start, "%q sets the plan's timer and must come before the rules, e.g. %s:5,(...)", name+":", name)
	}
	p.i++
	secs, err := p.seconds(start, name)
	if err != nil {
		return item{}, err
	}
	if name == "S" {
		return item{kind: itemShort, secs: secs}, nil
	}
	return item{kind: itemLong, secs: secs}, nil
}

// seconds parses the whole seconds at p.i; start and name describe the timer
// for messages.
func (p *parser) seconds(start int, name string) (int, error) {
	j := p.i
	for j < len(p.s) && isDigit(p.s[j]) {
		j++
	}
	if j == p.i {
		return 0, p.errorf(start, "%q needs a number of seconds, e.g. %s0", name, name)
	}
	num := p.s[p.i:j]
	if len(num) > 4 {
		return 0, p.errorf(start, "timer %s%s is longer than %d seconds", name, num, MaxTimerSeconds)
	}
	n, _ := strconv.Atoi(num) // at most four digits, cannot fail
	if n > MaxTimerSeconds {
		return 0, p.errorf(start, "timer %s%s is longer than %d seconds", name, num, MaxTimerSeconds)
	}
	p.i = j
	return n, nil
}

// compile turns the rule's items into steps, inserts, comma positions and
// timers.
func (r *rule) compile(short, long time.Duration) {
	r.short = short
	cur := long
	r.plain = true
	for _, it := range r.items {
		pos := len(r.steps)
		switch it.kind {
		case itemKeys:
			r.long = append(r.long, cur)
			r.steps = append(r.steps, step{set: it.set, star: it.star, emit: true, weight: stepWeight(it.set)})
		case itemTransform:
			if it.out != "" {
				if r.inserts == nil {
					r.inserts = make([]string, r.countSteps()+1)
				}
				r.inserts[pos] += it.out
			}
			for i := 0; i < len(it.in); i++ {
				set := keySet(1) << keyIndex(it.in[i])
				r.long = append(r.long, cur)
				r.steps = append(r.steps, step{set: set, weight: stepWeight(set)})
			}
			r.plain = false
		case itemComma:
			r.comma |= 1 << pos
		case itemShort:
			r.short = time.Duration(it.secs) * time.Second
		case itemLong:
			cur = time.Duration(it.secs) * time.Second
		}
	}
	r.long = append(r.long, cur)
}

func (r *rule) countSteps() int {
	n := 0
	for _, it := range r.items {
		switch it.kind {
		case itemKeys:
			n++
		case itemTransform:
			n += len(it.in)
		}
	}
	return n
}

// String prints the plan in a form Parse reads back to the same plan:
// parenthesised, without white space except after timers, sets normalised.
func (p *Plan) String() string {
	var b strings.Builder
	if p.textShort >= 0 {
		fmt.Fprintf(&b, "S:%d,", p.textShort)
	}
	if p.textLong >= 0 {
		fmt.Fprintf(&b, "L:%d,", p.textLong)
	}
	b.WriteByte('(')
	for i := range p.rules {
		if i > 0 {
			b.WriteByte('|')
		}
		p.rules[i].write(&b)
	}
	b.WriteByte(')')
	return b.String()
}

func (r *rule) write(b *strings.Builder) {
	for i, it := range r.items {
		switch it.kind {
		case itemKeys:
			writeSet(b, it.set)
			if it.star {
				b.WriteByte('.')
			}
		case itemTransform:
			b.WriteByte('<')
			b.WriteString(it.in)
			b.WriteByte(':')
			b.WriteString(it.out)
			b.WriteByte('>')
		case itemComma:
			b.WriteByte(',')
		case itemShort, itemLong:
			if it.kind == itemShort {
				b.WriteByte('S')
			} else {
				b.WriteByte('L')
			}
			b.WriteString(strconv.Itoa(it.secs))
			// A digit right after the number would be read as part of it.
			if i+1 < len(r.items) {
				b.WriteByte(' ')
			}
		}
	}
	if r.timeout {
		b.WriteByte('T')
	}
	if r.block {
		b.WriteByte('!')
	}
}

func writeSet(b *strings.Builder, set keySet) {
	switch {
	case set == digitKeys:
		b.WriteByte('x')
		return
	case bits.OnesCount16(uint16(set)) == 1:
		b.WriteByte(keyChars[bits.TrailingZeros16(uint16(set))])
		return
	}
	b.WriteByte('[')
	for d := 0; d < 10; {
		if set&(1<<d) == 0 {
			d++
			continue
		}
		e := d
		for e+1 < 10 && set&(1<<(e+1)) != 0 {
			e++
		}
		switch e - d {
		case 0:
			b.WriteByte(keyChars[d])
		case 1:
			b.WriteByte(keyChars[d])
			b.WriteByte(keyChars[e])
		default:
			b.WriteByte(keyChars[d])
			b.WriteByte('-')
			b.WriteByte(keyChars[e])
		}
		d = e + 1
	}
	for k := 10; k < len(keyChars); k++ {
		if set&(1<<k) != 0 {
			b.WriteByte(keyChars[k])
		}
	}
	b.WriteByte(']')
}
