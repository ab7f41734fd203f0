package provision

import (
	"errors"
	"fmt"

	"github.com/pelletier/go-toml/v2"

	"github.com/tipring/tipring/firmware/config"
)

// Bench is what `tipring provision` writes: the few keys a bench setup
// needs. Everything left empty keeps its default, so the file stays short
// and a later firmware's better defaults still apply.
type Bench struct {
	Board   string
	Region  string
	DataDir string
	Lines   []BenchLine
	// Meter is the prepaid back end; all three or none.
	MeterBackend, MeterAccount, MeterToken string
	AdminListen                            string
	// AdminPassword empty means the one derived from the factory secret.
	AdminPassword string
	SimControl    string
}

// BenchLine is one phone port's SIP account.
type BenchLine struct {
	User, Password, Registrar string
}

// The TOML document, in the configuration's key names; omitempty leaves
// out what was not given.
type benchDoc struct {
	Device benchDevice `toml:"device,omitempty"`
	Lines  []benchLine `toml:"line"`
	Admin  *benchAdmin `toml:"admin,omitempty"`
	Sim    *benchSim   `toml:"sim,omitempty"`
	Meter  *benchMeter `toml:"meter,omitempty"`
}

type benchDevice struct {
	Board   string `toml:"board,omitempty"`
	Region  string `toml:"region,omitempty"`
	DataDir string `toml:"data_dir,omitempty"`
}

type benchLine struct {
	Port      int    `toml:"port"`
	User      string `toml:"user"`
	Password  string `toml:"password"`
	Registrar string `toml:"registrar"`
}

type benchAdmin struct {
	Listen   string `toml:"listen,omitempty"`
	Password string `toml:"password,omitempty"`
}

type benchSim struct {
	Control string `toml:"control"`
}

type benchMeter struct {
	Backend string `toml:"backend"`
	Account string `toml:"account"`
	Token   string `toml:"token"`
}

// Marshal writes the configuration and checks it with the firmware's own
// parser, so that what `tipring provision` writes is what `tipring run`
// accepts.
func (b Bench) Marshal() ([]byte, error) {
	if len(b.Lines) == 0 {
		return nil, errors.New("provision: at least one line (user, password, registrar) is needed")
	}
	doc := benchDoc{Device: benchDevice{Board: b.Board, Region: b.Region, DataDir: b.DataDir}}
	for i, l := range b.Lines {
		doc.Lines = append(doc.Lines, benchLine{Port: i + 1, User: l.User, Password: l.Password, Registrar: l.Registrar})
	}
	if b.AdminListen != "" || b.AdminPassword != "" {
		doc.Admin = &benchAdmin{Listen: b.AdminListen, Password: b.AdminPassword}
	}
	if b.SimControl != "" {
		doc.Sim = &benchSim{Control: b.SimControl}
	}
	if b.MeterBackend != "" || b.MeterAccount != "" || b.MeterToken != "" {
		doc.Meter = &benchMeter{Backend: b.MeterBackend, Account: b.MeterAccount, Token: b.MeterToken}
	}
	data, err := toml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("provision: encode: %w", err)
	}
	if _, err := config.Parse("the new configuration", data); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	return data, nil
}
