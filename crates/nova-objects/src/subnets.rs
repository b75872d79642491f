//! How nova-network's `create_networks` cuts a requested IPv4 range into
//! networks (`nova/network/manager.py`): each network's size when none is
//! asked for, the subnets of that size taken in order from the start of the
//! range, and a subnet that is (or holds) an existing network moved on to
//! the next free one. One place for `nova-manage network create`,
//! `os-networks` and `os-tenant-networks`.

use nova_common::{NovaError, NovaResult};
use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 network, `a.b.c.d/n`, its host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Net {
    net: u32,
    prefix: u32,
}

impl Ipv4Net {
    pub fn parse(cidr: &str) -> Option<Self> {
        let (addr, prefix) = cidr.trim().split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32)?;
        Some(Self {
            net: u32::from(addr) & Self::mask(prefix),
            prefix,
        })
    }

    fn mask(prefix: u32) -> u32 {
        u32::MAX.checked_shl(32 - prefix).unwrap_or(0)
    }

    /// The number of addresses.
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }

    fn last(&self) -> u64 {
        u64::from(self.net) + self.size() - 1
    }

    /// Whether `other` lies wholly inside this network.
    pub fn holds(&self, other: &Ipv4Net) -> bool {
        other.prefix >= self.prefix
            && u64::from(other.net) >= u64::from(self.net)
            && other.last() <= self.last()
    }

    /// The network of the same size right after this one, if any.
    fn next(&self) -> Option<Ipv4Net> {
        let next = self.last() + 1;
        u32::try_from(next).ok().map(|net| Ipv4Net {
            net,
            prefix: self.prefix,
        })
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.net), self.prefix)
    }
}

/// What a create asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct SubnetRequest<'a> {
    /// The range (`cidr`, `--fixed_range_v4`).
    pub range: &'a str,
    /// `num_networks`, else `[DEFAULT] num_networks`.
    pub num_networks: u64,
    /// `network_size` when given.
    pub network_size: Option<u64>,
    /// `[DEFAULT] network_size`.
    pub conf_network_size: u64,
    /// `ipam`: the range is one network, uncut.
    pub ipam: bool,
}

/// The networks to make, and the prefix each was cut down to when the
/// range was larger than `[DEFAULT] network_size` allows (Nova logs
/// "Subnet(s) too large, defaulting to /N").
#[derive(Clone, Debug, PartialEq)]
pub struct Subnets {
    pub cidrs: Vec<String>,
    pub capped_to: Option<u32>,
}

/// Nova's `create_networks` and `_validate_cidr` over the networks that
/// exist (`used`): each network's size is `network_size`, else the range's
/// share of it, at most `[DEFAULT] network_size` (a size that is not a
/// power of two rounds up); the subnets are the first of that size in the
/// range, each one equal to or holding an existing network moved to the
/// next free subnet of the range; one inside an existing network, or with
/// no free subnet left, is a CidrConflict.
pub fn carve(req: &SubnetRequest<'_>, used: &[String]) -> NovaResult<Subnets> {
    let range = Ipv4Net::parse(req.range).ok_or_else(|| NovaError::InvalidCidr {
        cidr: req.range.to_string(),
    })?;
    let num = req.num_networks.max(1);
    let mut capped_to = None;
    let size = match req.network_size {
        _ if req.ipam => range.size(),
        Some(size) => size.max(1),
        None if range.size() / num > req.conf_network_size => {
            let size = req.conf_network_size.max(1);
            capped_to = Some(32 - size.next_power_of_two().trailing_zeros());
            size
        }
        None => range.size() / num,
    };
    let prefix = 32 - size.max(1).next_power_of_two().trailing_zeros().min(32);
    let wanted: Vec<Ipv4Net> = if req.ipam || (num == 1 && prefix <= range.prefix) {
        // One network asked for as large as the range, or larger: the range.
        vec![range]
    } else {
        let first = Ipv4Net {
            net: range.net,
            prefix: prefix.max(range.prefix),
        };
        let fit = range.size() / first.size();
        if prefix < range.prefix || fit < num {
            return Err(NovaError::InvalidInput {
                reason: format!(
                    "{} networks of {} addresses do not fit in {range} ({} addresses)",
                    num,
                    1u64 << (32 - prefix),
                    range.size()
                ),
            });
        }
        std::iter::successors(Some(first), Ipv4Net::next)
            .take(num as usize)
            .collect()
    };
    let used: Vec<Ipv4Net> = used.iter().filter_map(|c| Ipv4Net::parse(c)).collect();
    let mut chosen: Vec<Ipv4Net> = Vec::with_capacity(wanted.len());
    let mut moved = Vec::with_capacity(wanted.len());
    for subnet in &wanted {
        let mut s = *subnet;
        loop {
            if let Some(outer) = used.iter().find(|u| u.holds(&s) && **u != s) {
                return Err(NovaError::CidrConflict {
                    cidr: s.to_string(),
                    other: outer.to_string(),
                });
            }
            let taken = used.iter().find(|u| s.holds(u));
            if taken.is_none() && !chosen.contains(&s) {
                break;
            }
            // The next subnet of the range that no other wanted one is.
            let mut next = s.next();
            while let Some(n) = next.filter(|n| wanted.contains(n) || chosen.contains(n)) {
                next = n.next();
            }
            match next.filter(|n| range.holds(n)) {
                Some(n) => s = n,
                None => {
                    return Err(NovaError::CidrConflict {
                        cidr: s.to_string(),
                        other: taken.copied().unwrap_or(s).to_string(),
                    })
                }
            }
        }
        chosen.push(s);
        moved.push(s != *subnet);
    }
    // As Nova's list: a moved subnet goes to the end, after those that
    // stayed (which decides the `_N` of each label).
    let (stayed, moved): (Vec<_>, Vec<_>) = chosen.iter().zip(moved).partition(|(_, m)| !m);
    Ok(Subnets {
        cidrs: stayed
            .into_iter()
            .chain(moved)
            .map(|(s, _)| s.to_string())
            .collect(),
        capped_to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(range: &str, num: u64, size: Option<u64>) -> SubnetRequest<'_> {
        SubnetRequest {
            range,
            num_networks: num,
            network_size: size,
            conf_network_size: 256,
            ipam: false,
        }
    }

    fn cidrs(r: NovaResult<Subnets>) -> Vec<String> {
        r.map(|s| s.cidrs).unwrap_or_default()
    }

    #[test]
    fn a_large_range_is_cut_to_network_size_and_says_so() {
        let s = carve(&req("10.0.0.0/16", 1, None), &[]).ok();
        assert_eq!(
            s,
            Some(Subnets {
                cidrs: vec!["10.0.0.0/24".into()],
                capped_to: Some(24)
            })
        );
        // The range's share when it is smaller: two /26 of a /25.
        assert_eq!(
            cidrs(carve(&req("10.0.0.0/25", 2, None), &[])),
            ["10.0.0.0/26", "10.0.0.64/26"]
        );
        // A small range is one network; ipam never cuts.
        assert_eq!(
            cidrs(carve(&req("10.0.0.0/26", 1, None), &[])),
            ["10.0.0.0/26"]
        );
        let ipam = SubnetRequest {
            ipam: true,
            ..req("10.0.0.0/16", 1, None)
        };
        assert_eq!(cidrs(carve(&ipam, &[])), ["10.0.0.0/16"]);
        // A size that is not a power of two rounds up, as Nova's log2 ceil.
        assert_eq!(
            cidrs(carve(&req("10.0.0.0/24", 2, Some(100)), &[])),
            ["10.0.0.0/25", "10.0.0.128/25"]
        );
    }

    #[test]
    fn a_used_subnet_moves_on_to_the_next_free_one() {
        let used = vec!["10.0.0.0/24".to_string(), "10.0.1.0/24".to_string()];
        assert_eq!(
            cidrs(carve(&req("10.0.0.0/16", 1, None), &used)),
            ["10.0.2.0/24"]
        );
        // A smaller network inside the subnet also moves it.
        let used = vec!["10.0.0.64/26".to_string()];
        assert_eq!(
            cidrs(carve(&req("10.0.0.0/16", 2, Some(256)), &used)),
            ["10.0.1.0/24", "10.0.2.0/24"]
        );
    }

    #[test]
    fn conflicts_and_ranges_too_small() {
        // Inside a larger existing network.
        let used = vec!["10.0.0.0/16".to_string()];
        assert_eq!(
            carve(&req("10.0.5.0/24", 1, None), &used).err(),
            Some(NovaError::CidrConflict {
                cidr: "10.0.5.0/24".into(),
                other: "10.0.0.0/16".into()
            })
        );
        // The whole range taken: no next subnet in it.
        let used = vec!["10.0.0.0/24".to_string()];
        assert!(matches!(
            carve(&req("10.0.0.0/24", 1, None), &used),
            Err(NovaError::CidrConflict { .. })
        ));
        assert!(matches!(
            carve(&req("10.0.0.0/24", 5, Some(64)), &[]),
            Err(NovaError::InvalidInput { .. })
        ));
        assert!(matches!(
            carve(&req("10.0.0/24", 1, None), &[]),
            Err(NovaError::InvalidCidr { .. })
        ));
    }
}
