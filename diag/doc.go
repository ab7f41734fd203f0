// Package diag owns evidence: the collectors that answer the support
// checklist (device, registration, calls, SIP trace, network, router,
// internet connection, home network, handset and line), the findings that
// name likely causes, redaction, and the diagnostics bundle. It imports
// nothing from the other rooms; firmware feeds it plain data.
package diag
