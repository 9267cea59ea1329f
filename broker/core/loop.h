/* The broker's one event loop: epoll + timerfd (+ signalfd registered by the caller).
 * No threads, no sleeps; every wait has a deadline. */
#ifndef LB_LOOP_H
#define LB_LOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lb_loop lb_loop;
typedef struct lb_timer lb_timer;
typedef void (*lb_io_cb)(lb_loop *loop, int fd, uint32_t events, void *ctx);
typedef void (*lb_timer_cb)(lb_loop *loop, lb_timer *t, void *ctx);

uint64_t lb_now_ms(void); /* CLOCK_MONOTONIC */
uint64_t lb_now_ns(void); /* CLOCK_MONOTONIC, the same clock in every process */

lb_loop *lb_loop_new(void);
void lb_loop_free(lb_loop *loop);
int lb_loop_add_fd(lb_loop *loop, int fd, uint32_t events, lb_io_cb cb, void *ctx);
int lb_loop_mod_fd(lb_loop *loop, int fd, uint32_t events);
/* Safe to call from inside any callback, including the fd's own. */
void lb_loop_del_fd(lb_loop *loop, int fd);
int lb_loop_run(lb_loop *loop);
void lb_loop_stop(lb_loop *loop);

lb_timer *lb_timer_new(lb_loop *loop, lb_timer_cb cb, void *ctx);
void lb_timer_arm(lb_timer *t, uint64_t after_ms);
void lb_timer_disarm(lb_timer *t);
bool lb_timer_armed(const lb_timer *t);
/* Safe to call from inside the timer's own callback. */
void lb_timer_free(lb_timer *t);

#endif
