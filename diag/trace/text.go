package trace

import "strings"

// RedactText redacts free text, such as the log, with the rules a message
// that sipgo cannot parse gets: on every line, credential-looking
// parameters, URI passwords and the literal secrets are removed in every
// mode. With Anonymize, the numbers in SIP and tel URIs and every other run
// of five or more digits become the bundle's tokens (a log names numbers
// as bare values, number=15551234, where no header rule can find them).
func RedactText(text string, opts Options) string {
	r := newRedactor(opts)
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		l = r.secrets(scrubLine(l))
		if r.anonymize {
			l = r.anonymizeLine(l)
			l = digitRunRe.ReplaceAllStringFunc(l, func(run string) string {
				if len(strings.Map(keepDigits, run)) < 5 || strings.HasPrefix(run, "num-") {
					return run
				}
				return r.tokens.Number(run)
			})
			l = r.secrets(l)
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}
