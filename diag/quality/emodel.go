package quality

import "math"

// G.107 default values (Table 3) for the parameters a call's statistics do
// not tell us. With these, R = 93.2 for a connection without delay or loss.
const (
	defSLR   = 8.0   // send loudness rating, dB
	defRLR   = 2.0   // receive loudness rating, dB
	defSTMR  = 15.0  // sidetone masking rating, dB
	defLSTR  = 18.0  // listener sidetone rating, dB
	defDs    = 3.0   // D-value of telephone, send side
	defTELR  = 65.0  // talker echo loudness rating, dB (echo well cancelled)
	defWEPL  = 110.0 // weighted echo path loss, dB
	defQdu   = 1.0   // number of quantisation distortion units
	defIe    = 0.0   // equipment impairment of G.711
	defNc    = -70.0 // circuit noise, dBm0p
	defNfor  = -64.0 // noise floor at the receive side, dBmp
	defPs    = 35.0  // room noise at the send side, dB(A)
	defPr    = 35.0  // room noise at the receive side, dB(A)
	defA     = 0.0   // advantage factor: a fixed line has none
	defBurst = 1.0   // BurstR: loss taken as random
)

// rFactor is G.107's R = Ro − Is − Id − Ie,eff + A for a one-way
// mouth-to-ear delay ta (ms) and a packet loss ppl (percent).
//
// The echo paths are tied to the absolute delay as the standard's own
// delay curves (G.114 Figure 1) do: the talker echo path delay T = Ta, and
// the listener echo round trip Tr = 2·Ta. With TELR = 65 dB the echo terms
// are small for short delays (under 1 R point at 20 ms) and grow to a few
// points at satellite-like delays, where they belong.
func rFactor(ta, ppl, bpl float64) float64 {
	t := ta
	tr := 2 * ta
	no := noise()
	ro := 15 - 1.5*(defSLR+no)
	return ro - is(ro, no, t) - idte(no, t) - idle(ro, tr) - idd(ta) - ieEff(ppl, bpl) + defA
}

// noise is No, the sum of all noise sources referred to the 0 dBr point.
func noise() float64 {
	olr := defSLR + defRLR
	nos := defPs - defSLR - defDs - 100 + 0.004*sq(defPs-olr-defDs-14)
	pre := defPr + 10*math.Log10(1+math.Pow(10, (10-defLSTR)/10))
	nor := defRLR - 121 + pre + 0.008*sq(pre-35)
	nfo := defNfor + defRLR
	return 10 * math.Log10(math.Pow(10, defNc/10)+math.Pow(10, nos/10)+
		math.Pow(10, nor/10)+math.Pow(10, nfo/10))
}

// is is the simultaneous impairment factor Is = Iolr + Ist + Iq.
func is(ro, no, t float64) float64 {
	xolr := defSLR + defRLR + 0.2*(64+no-defRLR)
	iolr := 20 * (math.Pow(1+math.Pow(xolr/8, 8), 1.0/8) - xolr/8)

	stmro := -10 * math.Log10(math.Pow(10, -defSTMR/10)+math.Exp(-t/4)*math.Pow(10, -defTELR/10))
	ist := 12*math.Pow(1+math.Pow((stmro-13)/6, 8), 1.0/8) -
		28*math.Pow(1+math.Pow((stmro+1)/19.4, 35), 1.0/35) -
		13*math.Pow(1+math.Pow((stmro-3)/33, 13), 1.0/13) + 29

	q := 37 - 15*math.Log10(defQdu)
	g := 1.07 + 0.258*q + 0.0602*q*q
	y := (ro-100)/15 + 46/8.4 - g/9
	z := 46/30.0 - g/40
	iq := 15 * math.Log10(1+math.Pow(10, y)+math.Pow(10, z))
	return iolr + ist + iq
}

// idte is the talker echo impairment for an echo path delay t (ms).
func idte(no, t float64) float64 {
	roe := -1.5 * (no - defRLR)
	terv := defTELR - 40*math.Log10((1+t/10)/(1+t/150)) + 6*math.Exp(-0.3*t*t)
	re := 80 + 2.5*(terv-14)
	h := (roe - re) / 2
	return (h + math.Sqrt(h*h+100) - 1) * (1 - math.Exp(-t))
}

// idle is the listener echo impairment for an echo round trip tr (ms).
func idle(ro, tr float64) float64 {
	rle := 10.5 * (defWEPL + 7) * math.Pow(tr+1, -0.25)
	h := (ro - rle) / 2
	return h + math.Sqrt(h*h+169)
}

// idd is the impairment of the absolute delay ta (ms) itself, which starts
// to bite past 100 ms (G.107 with mT = 100 ms and sT = 1, the defaults).
func idd(ta float64) float64 {
	if ta <= 100 {
		return 0
	}
	x := math.Log10(ta/100) / math.Log10(2)
	return 25 * (math.Pow(1+math.Pow(x, 6), 1.0/6) - 3*math.Pow(1+math.Pow(x/3, 6), 1.0/6) + 2)
}

// ieEff is the effective equipment impairment for a random packet loss ppl
// (percent) with robustness bpl.
func ieEff(ppl, bpl float64) float64 {
	return defIe + (95-defIe)*ppl/(ppl/defBurst+bpl)
}

func sq(v float64) float64 { return v * v }
