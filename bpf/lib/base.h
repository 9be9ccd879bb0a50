/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel and libbpf headers the whole dataplane leans on, pulled in once so that every lib/
 * header can be included on its own and in any order. The socket constants are spelled out
 * because their usual home, libc's socket headers, is not meant for the bpf target.
 */
#ifndef DPC_LIB_BASE_H
#define DPC_LIB_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "dpc.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef SOCK_STREAM
#define SOCK_STREAM 1
#endif
#ifndef SOCK_DGRAM
#define SOCK_DGRAM 2
#endif

#define NS_PER_SEC 1000000000ULL

#endif /* DPC_LIB_BASE_H */
