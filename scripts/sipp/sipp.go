// Package sipp holds the SIPp scenarios that the interop tests run
// (scripts/peers.StartSIPp). Each scenario's header comment says what it
// does, how to run it and what its exit code means.
package sipp

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.xml
var files embed.FS

// Scenario returns the named scenario file ("uas_busy.xml").
func Scenario(name string) ([]byte, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("sipp scenario %q: not one of %s", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Names lists the scenarios, sorted.
func Names() []string {
	m, _ := fs.Glob(files, "*.xml")
	sort.Strings(m)
	return m
}
