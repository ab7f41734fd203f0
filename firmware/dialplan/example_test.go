package dialplan_test

import (
	"fmt"

	"github.com/tipring/tipring/firmware/dialplan"
)

// The line asks after every digit; the last digit of a number no rule could
// extend dials at once.
func Example() {
	plan, err := dialplan.Parse("(911|1[2-9]xxxxxxxxx|[2-9]xxxxxxxxx|011x.T|*xx)", dialplan.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, digits := range []string{"", "1408555123", "14085551234", "011", "01144#", "10"} {
		r := plan.Match(digits)
		fmt.Printf("%-12q %-8v %-11q %v rule %d\n", digits, r.Action, r.Number, r.Timeout, r.Rule)
	}
	// The short timer after "011" expired:
	fmt.Println(plan.Timeout("0114930123456").Number)
	// Output:
	// ""           continue ""          10s rule -1
	// "1408555123" continue ""          10s rule -1
	// "14085551234" dial     "14085551234" 0s rule 1
	// "011"        continue ""          4s rule 3
	// "01144#"     dial     "01144"     0s rule 3
	// "10"         reject   ""          0s rule -1
	// 0114930123456
}

func ExampleParse_transforms() {
	plan, _ := dialplan.Parse("(<9:>xxxxxxx | <:1408>[2-9]xxxxxx | 1900x.! | 9,<011:00>x.T)", dialplan.Options{})
	fmt.Println(plan)
	fmt.Println(plan.Match("95551234").Number)      // 9 stripped
	fmt.Println(plan.Match("5551234").Number)       // area code added
	fmt.Println(plan.Timeout("19005551234").Action) // blocked
	fmt.Println(plan.Match("9").SecondaryDialTone)  // outside-line dial tone
	fmt.Println(plan.Timeout("901144").Number)
	// Output:
	// (<9:>xxxxxxx|<:1408>[2-9]xxxxxx|1900x.!|9,<011:00>x.T)
	// 5551234
	// 14085551234
	// block
	// true
	// 90044
}

func ExampleSyntaxError() {
	_, err := dialplan.Parse("(911|1[2-9xxxxxxxxx)", dialplan.Options{})
	fmt.Println(err)
	// Output:
	// dial plan: position 6: unterminated "[" in "(911|1[2-9xxxxxxxxx)"
}
