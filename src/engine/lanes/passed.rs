//! Vehicles that passed a lane over: when a lane's silence proves it takes no vehicles.
//!
//! Drivers take the shortest queue, so an open lane that is free is passed over by at
//! most its neighbour lanes (the other lanes of its direction that take its vehicles,
//! each free longer) before it takes a vehicle. A vehicle that arrived after the
//! lane's newest departure and left by another lane passed it over. But the lane may
//! have taken a vehicle it has not released yet: only vehicles that arrived at least
//! one longest plausible inspection before its direction's newest departure passed
//! over a lane that was surely free. So what the alert rule needs is not how many
//! passed it over, but *when* (arrival time) more had passed it over than it has
//! neighbours: the arrival of the (neighbours + 1)-th earliest. `LaneStalled` pages
//! once its direction's newest departure is more than a longest inspection past it.

/// The earliest arrivals of the vehicles that passed a lane over since its newest
/// departure: no more than needed, sorted, in a buffer allocated once.
#[derive(Debug, Clone)]
pub struct PassedOver {
    arrivals: Vec<i64>,
    needed: usize,
}

impl PassedOver {
    /// For a lane with `neighbours` neighbour lanes.
    pub fn new(neighbours: usize) -> PassedOver {
        PassedOver {
            arrivals: Vec::with_capacity(neighbours + 1),
            needed: neighbours + 1,
        }
    }

    /// The arrival (ms) by which more vehicles had passed the lane over than it has
    /// neighbours; `None` while fewer did.
    pub fn since_ms(&self) -> Option<i64> {
        (self.arrivals.len() == self.needed).then(|| self.arrivals[self.needed - 1])
    }

    /// The lane released a vehicle: start again. Returns whether [`Self::since_ms`]
    /// was set.
    pub fn clear(&mut self) -> bool {
        let was = self.since_ms().is_some();
        self.arrivals.clear();
        was
    }

    /// A vehicle that arrived at `arrived_ms` passed the lane over (read in any order).
    /// Returns the new [`Self::since_ms`] when it changed.
    pub fn add(&mut self, arrived_ms: i64) -> Option<i64> {
        if self.arrivals.len() == self.needed {
            if arrived_ms >= self.arrivals[self.needed - 1] {
                return None;
            }
            self.arrivals.pop();
        }
        let at = self.arrivals.partition_point(|&a| a <= arrived_ms);
        self.arrivals.insert(at, arrived_ms);
        self.since_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_the_arrival_of_one_more_than_the_neighbours() {
        let mut p = PassedOver::new(2);
        assert_eq!(p.add(50), None);
        assert_eq!(p.add(30), None);
        assert_eq!(p.since_ms(), None, "two neighbours may be free longer");
        assert_eq!(p.add(70), Some(70));
        // An earlier arrival read later (departures leave out of arrival order).
        assert_eq!(p.add(10), Some(50));
        assert_eq!(p.add(60), None, "later than the third earliest: no change");
        assert_eq!(p.since_ms(), Some(50));
        assert!(p.clear());
        assert_eq!(p.since_ms(), None);
        assert!(!p.clear());
    }

    #[test]
    fn a_lane_without_neighbours_is_passed_over_by_the_first() {
        let mut p = PassedOver::new(0);
        assert_eq!(p.add(5), Some(5));
        assert_eq!(p.add(3), Some(3));
        assert_eq!(p.add(4), None);
    }
}
