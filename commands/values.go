package commands

import "time"

// Date is a calendar date (--date YYYY-MM-DD), without a time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// Clock is a time of day (--time HH:MM[:SS]).
type Clock struct {
	Hour, Minute, Second int
}

// Cron is a schedule expression that robfig/cron's standard parser accepts
// (five fields, or descriptors such as @daily and @every 1h).
type Cron string
