/* control: sbcd's control socket ([general] control_socket) and the daemon's own commands. */
#ifndef SBC_SBCD_CONTROL_H
#define SBC_SBCD_CONTROL_H

struct sbcd;
struct sbc_config;

int sbcd_ctl_start(struct sbcd *s);
int sbcd_ctl_apply(struct sbcd *s, const struct sbc_config *next);
void sbcd_ctl_stop(struct sbcd *s);

#endif
