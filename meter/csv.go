package meter

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"
)

func csvHeader() []string {
	return []string{"id", "start", "clock_synced", "port", "direction", "dialled", "number", "destination",
		"disposition", "sip_code", "reason", "hung_up_by", "ring_ms", "talk_ms", "metered", "per_minute",
		"first_increment", "next_increment", "billed_seconds", "usage_cost", "connect_fee", "access_fee",
		"access_fee_label", "cost", "balance_after", "answered_by", "early_media", "rtp_received", "rtp_sent",
		"audio_received_ms", "audio_sent_ms", "rtcp_loss_percent", "jitter_ms", "refund_candidate", "refund_reason"}
}

// WriteCSV writes call records as CSV, one row per record with every field
// a spreadsheet needs: `tipring calls --csv` and the diagnostics bundle's
// calls.csv.
func WriteCSV(w io.Writer, calls []Record) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader()); err != nil {
		return err
	}
	for _, r := range calls {
		var per, first, next string
		if r.Rate != nil {
			per, first, next = r.Rate.PerMinute.String(), strconv.Itoa(r.Rate.FirstIncrement), strconv.Itoa(r.Rate.NextIncrement)
		}
		e := r.Evidence
		row := []string{r.ID, r.Start.UTC().Format(time.RFC3339Nano), strconv.FormatBool(r.ClockSynced), strconv.Itoa(r.Port),
			r.Direction, r.Dialled, r.Number, r.Destination, string(r.Disposition), strconv.Itoa(r.SIPCode), r.Reason,
			r.HungUpBy, strconv.FormatInt(r.RingMS, 10), strconv.FormatInt(r.TalkMS, 10), strconv.FormatBool(r.Metered),
			per, first, next, strconv.Itoa(r.BilledSeconds), r.UsageCost.String(), r.ConnectFee.String(), r.AccessFee.String(),
			r.AccessFeeLabel, r.Cost.String(), r.BalanceAfter.String(), e.AnsweredBy, strconv.FormatBool(e.EarlyMedia),
			strconv.FormatUint(e.RTPReceived, 10), strconv.FormatUint(e.RTPSent, 10), strconv.FormatInt(e.AudioReceivedMS, 10),
			strconv.FormatInt(e.AudioSentMS, 10), strconv.FormatFloat(e.RTCPLossPercent, 'f', 2, 64),
			strconv.FormatFloat(e.JitterMS, 'f', 2, 64), strconv.FormatBool(r.RefundCandidate), r.RefundReason}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
