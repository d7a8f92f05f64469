/* config: small read-only helpers over a loaded configuration and its error list. */
#include <string.h>

#include "config_int.h"

/* Empty the list; config_load does this itself. */
void config_errors_init(struct config_errors *errs)
{
	errs->n = 0;
	errs->dropped = 0;
}

/* One error per line, then a count of those past CONFIG_ERRORS_MAX. */
void config_errors_print(const struct config_errors *errs, FILE *f)
{
	for (unsigned i = 0; i < errs->n; i++)
		fprintf(f, "%s\n", errs->msg[i]);
	if (errs->dropped)
		fprintf(f, "(%u more errors not shown)\n", errs->dropped);
}

/* The zone z of cfg, or NULL for an out-of-range z. */
const struct config_zone *config_zone(const struct sbc_config *cfg, enum zone_id z)
{
	return (unsigned)z < ZONE_COUNT ? &cfg->zones[z] : NULL;
}

/* The trunk called name ([trunk:NAME]), or NULL. */
const struct config_trunk *config_trunk_find(const struct sbc_config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->trunk_count; i++) {
		if (strcmp(cfg->trunks[i].name, name) == 0)
			return &cfg->trunks[i];
	}
	return NULL;
}

/* Names as the file spells them, for logs and messages. */
const char *config_zone_name(enum zone_id z)
{
	return (unsigned)z < ZONE_COUNT ? config_zone_names[z] : "?";
}

const char *config_transport_name(enum config_transport t)
{
	return (unsigned)t <= CONFIG_TRANSPORT_TLS ? config_transport_names[t] : "?";
}

const char *config_media_engine_name(enum config_media_engine m)
{
	return (unsigned)m <= CONFIG_MEDIA_XDP ? config_media_engine_names[m] : "?";
}

/* [media] cpu: -1 for "any", the CPU number (0-1023), or -2 for anything else. */
int config_media_cpu(const struct config_media *m)
{
	unsigned long n = 0;
	size_t i;

	if (!strcmp(m->cpu, "any"))
		return -1;
	for (i = 0; i < 5 && m->cpu[i] >= '0' && m->cpu[i] <= '9'; i++)
		n = n * 10 + (unsigned long)(m->cpu[i] - '0');
	if (!i || m->cpu[i] || n > 1023)
		return -2;
	return (int)n;
}
