package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/tipring/tipring/meter"
)

func balanceCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := newAPICommand("balance", "print the raw JSON", stderr)
	c, err := cmd.parse(args)
	if err != nil {
		return err
	}
	b, err := c.Balance(ctx)
	if err != nil {
		return err
	}
	if *cmd.json {
		return writeJSONOut(stdout, b)
	}
	if !b.Metering {
		fmt.Fprintln(stdout, "metering is off (no [meter] backend configured)")
		return nil
	}
	fmt.Fprintf(stdout, "balance %s %s, account %s\n", b.Balance, b.Currency, dash(string(b.Status)))
	if b.LastDestination != "" {
		fmt.Fprintf(stdout, "buys about %d minutes to %s (the last call's destination)\n", b.Minutes, b.LastDestination)
	}
	sync := "never"
	if !b.LastSync.IsZero() {
		sync = b.LastSync.Local().Format(time.DateTime)
	}
	fmt.Fprintf(stdout, "last sync with the billing back end: %s; %d calls (%s) not yet delivered\n", sync, b.UnsyncedCalls, b.UnsyncedCost)
	if b.InCalls > 0 {
		fmt.Fprintf(stdout, "calls in progress have used %s so far\n", b.InCalls)
	}
	if b.Stale {
		fmt.Fprintln(stdout, "the cached balance is too old to trust: calls are refused until the back end answers")
	}
	return nil
}

func callsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := newAPICommand("calls", "print the records as JSON", stderr)
	asCSV := cmd.fs.Bool("csv", false, "print the records as CSV")
	limit := cmd.fs.Int("limit", 50, "how many of the newest calls")
	c, err := cmd.parse(args)
	if err != nil {
		return err
	}
	if *cmd.json && *asCSV {
		return usageErr("--json and --csv exclude each other")
	}
	calls, err := c.Calls(ctx, *limit)
	if err != nil {
		return err
	}
	switch {
	case *cmd.json:
		return writeJSONOut(stdout, calls)
	case *asCSV:
		return meter.WriteCSV(stdout, calls)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "START\tPORT\tDIR\tNUMBER\tDESTINATION\tRESULT\tTALK\tBILLED\tCOST\tBALANCE AFTER\tNOTE")
	for _, r := range calls {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Start.Local().Format(time.DateTime), r.Port, r.Direction, dash(r.Number), dash(r.Destination),
			result(r), talk(r), billed(r), r.Cost, balanceAfter(r), note(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The explanation of each charge, under the table, for the calls that
	// cost something: what support reads out.
	for _, r := range calls {
		if r.Cost == 0 {
			continue
		}
		fmt.Fprintf(stdout, "\n%s to %s: %s\n", r.Start.Local().Format(time.DateTime), r.Number, Explain(r))
	}
	return nil
}

// Explain says in words how a record's cost came about.
func Explain(r meter.Record) string {
	if r.Rate == nil {
		return fmt.Sprintf("cost %s", r.Cost)
	}
	s := fmt.Sprintf("talked %s, billed %d s (%s at %s/min, increments %d/%d",
		(time.Duration(r.TalkMS) * time.Millisecond).Round(time.Millisecond), r.BilledSeconds, r.Rate.Destination,
		r.Rate.PerMinute, r.Rate.FirstIncrement, r.Rate.NextIncrement)
	if r.Rate.MinDuration > 0 {
		s += fmt.Sprintf(", minimum %d s", r.Rate.MinDuration)
	}
	if r.Rate.Grace > 0 {
		s += fmt.Sprintf(", free under %d s", r.Rate.Grace)
	}
	s += fmt.Sprintf(") = %s", r.UsageCost)
	if r.ConnectFee > 0 {
		s += fmt.Sprintf(" + connection fee %s", r.ConnectFee)
	}
	if r.AccessFee > 0 {
		label := r.AccessFeeLabel
		if label == "" {
			label = "access fee"
		}
		s += fmt.Sprintf(" + %s %s", label, r.AccessFee)
	}
	if r.ConnectFee > 0 || r.AccessFee > 0 {
		s += fmt.Sprintf(" = %s", r.Cost)
	}
	if r.Disposition == meter.CutCredit {
		s += "; cut when the credit ran out"
	}
	if r.RefundCandidate {
		s += "; refund candidate: " + r.RefundReason
	}
	return s
}

func result(r meter.Record) string {
	s := string(r.Disposition)
	if r.SIPCode != 0 {
		s += " " + strconv.Itoa(r.SIPCode)
	}
	return s
}

func talk(r meter.Record) string {
	if r.TalkMS == 0 {
		return "-"
	}
	return (time.Duration(r.TalkMS) * time.Millisecond).Round(100 * time.Millisecond).String()
}

func billed(r meter.Record) string {
	if !r.Metered {
		return "free"
	}
	return strconv.Itoa(r.BilledSeconds) + "s"
}

func balanceAfter(r meter.Record) string {
	if r.Disposition == meter.InProgress {
		return "-"
	}
	return r.BalanceAfter.String()
}

func note(r meter.Record) string {
	switch {
	case r.RefundCandidate:
		return "refund candidate"
	case r.AccessFee > 0:
		return r.AccessFeeLabel
	case r.Disposition == meter.Refused || r.Disposition == meter.Failed || r.Disposition == meter.Interrupted:
		return r.Reason
	}
	return ""
}

func statementCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := newAPICommand("statement", "print the statement as JSON", stderr)
	c, err := cmd.parse(args)
	if err != nil {
		return err
	}
	if cmd.fs.NArg() != 1 {
		return usageErr("want the month: tipring statement YYYY-MM")
	}
	month := cmd.fs.Arg(0)
	if _, err := time.Parse("2006-01", month); err != nil {
		return usageErr("month %q: want YYYY-MM", month)
	}
	s, err := c.Statement(ctx, month)
	if err != nil {
		return err
	}
	if *cmd.json {
		return writeJSONOut(stdout, s)
	}
	cur := s.Currency
	fmt.Fprintf(stdout, "Statement for %s (%s)\n\n", s.Month, dash(cur))
	fmt.Fprintf(stdout, "Opening balance  %12s\n", s.Opening)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "DESTINATION\tCALLS\tBILLED\tCOST\t")
	for _, d := range s.Destinations {
		fmt.Fprintf(tw, "%s\t%d\t%ds\t%s\t\n", d.Destination, d.Calls, d.BilledSeconds, d.Cost)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Calls            %12s  (%d attempts, %d answered; usage %s, connection fees %s)\n",
		"-"+s.CallCosts.String(), s.Calls, s.Answered, s.Usage, s.ConnectFees)
	for _, f := range s.AccessFees {
		fmt.Fprintf(stdout, "  of which %s: %d × = %s\n", f.Label, f.Count, f.Amount)
	}
	for _, r := range s.Recharges {
		fmt.Fprintf(stdout, "Recharge %s  %s %s (%s) %s\n", r.At.Local().Format(time.DateTime), r.Amount, r.Result, r.Reason, r.Message)
	}
	fmt.Fprintf(stdout, "Recharges        %12s\n", "+"+s.RechargesTotal.String())
	if s.Adjustments != 0 {
		fmt.Fprintf(stdout, "Adjustments      %12s  (changes made by the provider)\n", s.Adjustments)
	}
	fmt.Fprintf(stdout, "Closing balance  %12s\n", s.Closing)
	return nil
}
