package config

import (
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// keyIndex maps a key path ("device.board", "line.0.password", and tables
// such as "line.0") to the line of the file where it is written, so that
// validation errors found after decoding can still point at the line.
type keyIndex map[string]int

func (k keyIndex) line(path string) int { return k[path] }

// indexKeys walks the document's expressions with the TOML library's parser.
func indexKeys(data []byte) (keyIndex, error) {
	idx := keyIndex{}
	arrays := map[string]int{} // array-of-tables name → count seen so far
	var table []string
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			name := keyParts(e.Key())
			if e.Kind == unstable.ArrayTable {
				joined := strings.Join(name, ".")
				n := arrays[joined]
				arrays[joined] = n + 1
				name = append(name, fmt.Sprint(n))
			}
			table = name
			idx[strings.Join(table, ".")] = lineOf(&p, e)
		case unstable.KeyValue:
			path := append(append([]string{}, table...), keyParts(e.Key())...)
			idx[strings.Join(path, ".")] = lineOf(&p, e)
		}
	}
	if err := p.Error(); err != nil {
		return nil, err
	}
	return idx, nil
}

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

// lineOf finds the line of a node from its first key part, which always
// carries a position (the expression node itself may not).
func lineOf(p *unstable.Parser, e *unstable.Node) int {
	it := e.Key()
	for it.Next() {
		if n := it.Node(); n.Raw.Length > 0 {
			return p.Shape(n.Raw).Start.Line
		}
	}
	return 0
}
