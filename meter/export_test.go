package meter

// SetMinSweep sets the fewest ids a room sweeps (sweep) and returns a
// function that restores it: tests sweep tiny rooms at every event group.
func SetMinSweep(n int) (restore func()) {
	old := minSweep
	minSweep = n
	return func() { minSweep = old }
}
