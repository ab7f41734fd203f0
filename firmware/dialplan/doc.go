// Package dialplan decides when a number dialled on an analog phone is
// complete, and what to send: the "digit map" dial plans installers know from
// Cisco SPA and Linksys PAP2 adapters, with the MGCP "T" added.
//
// The package is pure logic. It does no I/O, starts no goroutines and keeps no
// clock: the line feeds it the digits pressed so far and runs the timer the
// answer asks for. A [Plan] is immutable once parsed and safe for concurrent
// use.
//
// # Syntax
//
// A plan is a list of rules separated by "|", usually wrapped in parentheses:
//
//	(911|1[2-9]xxxxxxxxx|[2-9]xxxxxxxxx|011x.T|*xx)
//
// White space is ignored, except that a timer's letter and its number must
// be written together ("S4", "L:15"). A rule is a sequence of elements,
// matched left to right against the keys pressed:
//
//	0-9 * # A-D   that key (A-D are the DTMF keys some phones have)
//	x             any digit 0-9 (not * # A-D); "X" is accepted too
//	[2-9] [135] [2-46-8*#]
//	              one key out of a set; "a-b" is a range of digits, a <= b
//	.             after a key, x or set: that element zero or more times, so
//	              "011x." is 011 followed by any number of digits (even none)
//	<in:out>      the keys "in" are dialled but "out" is sent in their place:
//	              <9:> strips a dialled 9, <:1408> adds 1408 without anything
//	              being dialled, <011:00> turns 011 into 00. "in" holds keys
//	              only (no x or sets); "out" holds keys and "+"
//	,             play dial tone again once the keys before it are dialled
//	              ("outside line" tone): 9,xxxxxxx
//	Sn  Ln        timer overrides in whole seconds (0-300), see Timers; a
//	              number after S or L runs to the first non-digit, so write a
//	              space before a following digit ("S4 5"), or put timers at the
//	              end of the rule where they usually belong
//	T             after the rule's last key: the rule completes only when the
//	              inter-digit timer expires, never at once
//	!             at the very end of a rule: numbers it matches are blocked
//
// Before the rules, "S:n," and "L:n," set the plan's short and long timers
// (seconds), as on Cisco adapters: "L:15,S:6,(...)". They override
// [Options].
//
// A rule must match at least one key or insert something. The rule
// "<:12125551234>" alone makes a hot line: Match("") answers Dial at once.
// "(<:1000>S5|xxxx)" is a warm line: it calls 1000 unless a digit is dialled
// within 5 s.
//
// # Matching
//
// Each rule is matched against the digits so far. A rule is "complete" when
// the digits match all of it, and "open" when more digits could still match
// it; "xx." is both after two digits. A rule is "alive" when it is complete or
// open. Match decides, in this order:
//
//  1. Digits with a character that is not a key (0-9 * # A-D), or more than
//     [MaxDigits] of them: Reject.
//  2. The digits end with "#" and no rule is alive with that "#" matched as a
//     key: "#" means "send now". The best rule complete for the digits
//     before it (T or not) dials them, or blocks them if it is a "!" rule;
//     with no complete rule, Reject. "(*xx#|...)" keeps "#" as a key for
//     numbers that rule matches.
//  3. No rule is alive: Reject.
//  4. Every alive rule is a "!" rule (and at least one key was dialled):
//     Block at once; nothing the user could add would be allowed.
//  5. Some rule is complete. The best complete rule (see below) is chosen.
//     If no rule is open and the best rule has no T: Dial now (or Block if
//     it is a "!" rule). Otherwise Continue with the short timer: the best
//     rule's S override, else the plan's short timer (default 4 s). With a
//     short timer of 0 ("S0") the number is dialled now instead.
//  6. No rule is complete: Continue with the long timer, the longest of the
//     open rules' L overrides in effect where each of them stands, else the
//     plan's long timer (default 10 s). With 0 the digits are rejected now.
//
// Timeout, called when the timer from Match expires, dials the best complete
// rule (T or not, open or not), blocks if that is a "!" rule or if every
// alive rule is one, and rejects otherwise.
//
// A number that comes out empty (say "<9:>x." after just "9") is rejected,
// and without digits only a rule that inserts something counts as complete.
//
// The best complete rule is the most specific one, as on Obihai and Asterisk
// and in keeping with the Cisco examples that put "1 947 xxxxxxx !" next to
// "1 xxx xxxxxxx": the rule that matched more of the digits with a single
// key (literal keys, <in:...> keys, one-key sets) wins; on a tie, the rule
// whose sets were narrower (summed over the digits: [2-9] is narrower than x);
// then a rule that cannot take more digits over one that can; then the rule
// written first. So "(1900x.!|1[2-9]xxxxxxxxx)" blocks 19005551234 and
// "(xxxx|12xx)" picks the second rule for 1234. Transforms are those of the
// chosen rule.
//
// Result.SecondaryDialTone is set on Continue when at least one digit was
// dialled and some alive rule stands exactly at a ",": "9" in
// "(9,xxxxxxx|911)". The line plays dial tone until the next digit; the next
// Match reports false again.
//
// # Timers
//
// The short timer (default 4 s) runs after digits that already form a
// complete number that could still grow; the long timer (default 10 s) runs
// while more digits are required, including before the first digit. Both
// are set by [Options], overridden for the plan by "S:n," and "L:n,", and
// per rule by S and L: an S in a rule applies when that rule is the best
// complete one ("xxxxxxxS0" sends 7 digits at once even if longer rules
// exist); an L takes effect from where it is written ("011 L20 x." waits up
// to 20 s between digits after 011).
//
// Emergency numbers are not this package's business: the line recognises
// them before asking the plan.
package dialplan
