package boards

// ResetButton is a board with a factory-reset button. It is optional, like
// LineTester: the firmware finds out with a type assertion on the Board.
type ResetButton interface {
	// ResetRequests delivers one value each time the button has been held
	// long enough (10 s) to ask for a factory reset. The channel is
	// closed when the board's Run ends.
	ResetRequests() <-chan struct{}
}
