package main

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/tipring/tipring/meter"
)

func ukMobileCall() meter.Record {
	rate := meter.Rate{Prefix: "447", Destination: "United Kingdom mobile", PerMinute: 120_000,
		FirstIncrement: 30, NextIncrement: 6, ConnectFee: 10_000, AccessFee: 50_000, AccessFeeLabel: "mobile access fee"}
	return meter.Record{ID: "r1", Number: "447700900123", Destination: rate.Destination, Disposition: meter.Answered,
		Metered: true, Rate: &rate, TalkMS: 31_200, BilledSeconds: 36, UsageCost: 72_000, ConnectFee: 10_000,
		AccessFee: 50_000, AccessFeeLabel: "mobile access fee", Cost: 132_000, BalanceAfter: 4_868_000}
}

// What support reads out must add up: usage, then each fee by name, then
// the total.
func TestExplainNamesEveryPartOfTheCharge(t *testing.T) {
	got := Explain(ukMobileCall())
	for _, want := range []string{"talked 31.2s", "billed 36 s", "0.1200/min", "increments 30/6", "= 0.0720",
		"connection fee 0.0100", "mobile access fee 0.0500", "= 0.1320"} {
		if !strings.Contains(got, want) {
			t.Errorf("explanation %q lacks %q", got, want)
		}
	}
}

func TestCallsCSVHasAColumnPerHeader(t *testing.T) {
	var buf bytes.Buffer
	if err := meter.WriteCSV(&buf, []meter.Record{ukMobileCall(), {ID: "r2", Disposition: meter.Busy, SIPCode: 486}}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want a header and 2 records", len(rows))
	}
	col := func(row []string, name string) string {
		for i, h := range rows[0] {
			if h == name {
				return row[i]
			}
		}
		t.Fatalf("no column %q", name)
		return ""
	}
	if col(rows[1], "cost") != "0.1320" || col(rows[1], "access_fee_label") != "mobile access fee" || col(rows[2], "sip_code") != "486" {
		t.Fatalf("rows %q", rows[1:])
	}
}
