// Package meter owns money: rating calls against the provider's rate
// table, the cached prepaid balance, authorization before dialling,
// real-time enforcement, the crash-safe call ledger (bbolt) and delivery of
// usage to the billing back end. It imports nothing from the other rooms;
// firmware wires it to the line.
package meter
