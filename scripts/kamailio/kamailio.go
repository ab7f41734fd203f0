// Package kamailio holds the Kamailio configuration that the interop tests
// run (scripts/peers.StartKamailio): a provider-like registrar and proxy on
// loopback. The file is a text/template; see kamailio.cfg for what each part
// imitates.
package kamailio

import _ "embed"

//go:embed kamailio.cfg
var config string

// Config returns the configuration template.
func Config() string { return config }
