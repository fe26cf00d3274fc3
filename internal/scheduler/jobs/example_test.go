package jobs_test

import (
	"fmt"
	"time"

	"corral/internal/scheduler/jobs"
)

// Example plans a nightly backup after the server was down from 02:50 to
// 03:20 on a day with a 5 m starting deadline: the 03:00 run is missed.
func Example() {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		fmt.Println(err)
		return
	}
	job := jobs.Job{ID: "backup", Schedule: "0 3 * * *", Timezone: "Europe/Berlin", ConcurrencyPolicy: jobs.Forbid, StartingDeadline: 5 * time.Minute, Retries: 2}
	c, err := jobs.Compile(job)
	if err != nil {
		fmt.Println(err)
		return
	}
	st := jobs.State{LastScheduled: time.Date(2026, 11, 24, 3, 0, 0, 0, berlin)}
	d := c.Plan(st, time.Date(2026, 11, 25, 3, 20, 0, 0, berlin))
	for _, r := range d.Records {
		fmt.Println(r.Scheduled.Format("2006-01-02 15:04 MST"), r)
	}
	fmt.Println("start:", len(d.Start), "next plan at", d.Wake.Format("2006-01-02 15:04 MST"))
	// Output:
	// 2026-11-25 03:00 CET missed: starting deadline 5m0s exceeded (20m0s late)
	// start: 0 next plan at 2026-11-26 03:00 CET
}
