// Package humanize is the one way backupbot writes sizes and rates for
// people: decimal (SI) units, as disk and network sizes are quoted ("84 MB",
// "1.2 GB", "512 B", "84 MB/s"), the same in job results, progress lines,
// alerts, the dashboard and backupctl.
package humanize

import (
	"fmt"
	"math"
)

// Bytes renders a byte count in decimal units: one decimal under 10 of a
// unit ("7.1 MB"), none from 10 up ("84 MB"); negative counts as "0 B".
func Bytes(n int64) string {
	if n < 0 {
		n = 0
	}
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"kB", "MB", "GB", "TB", "PB", "EB"}
	v := float64(n)
	i := -1
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	if v >= 10 {
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// Rate renders a transfer rate in bytes per second ("84 MB/s").
func Rate(bytesPerSecond float64) string {
	if bytesPerSecond <= 0 || math.IsNaN(bytesPerSecond) || math.IsInf(bytesPerSecond, 0) {
		return "0 B/s"
	}
	return Bytes(int64(bytesPerSecond)) + "/s"
}
