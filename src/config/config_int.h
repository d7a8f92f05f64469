/* config private interface: the schema table, value parsers, the load context and error reporting. */
#ifndef SBC_CONFIG_INT_H
#define SBC_CONFIG_INT_H

#include <iniparser.h>

#include "config.h"

/* Value types of the schema. */
enum config_type {
	CONFIG_T_STRING,    /* printable text up to the field size */
	CONFIG_T_PATH,      /* absolute path */
	CONFIG_T_IFNAME,    /* network interface name */
	CONFIG_T_USER,      /* unix user name */
	CONFIG_T_BOOL,
	CONFIG_T_UINT,      /* unsigned, min..max */
	CONFIG_T_PORT,      /* uint16_t, min..max (min 0: 0 turns a listener off) */
	CONFIG_T_RANGE,     /* RTP port range */
	CONFIG_T_ADDR,      /* IPv4/IPv6 literal */
	CONFIG_T_HOST,      /* literal or DNS name */
	CONFIG_T_ENUM,      /* one of names[], stored as an int-sized enum */
	CONFIG_T_LIST,      /* comma-separated items of type item */
	CONFIG_T_CIDRS,     /* comma-separated CIDR blocks */
	CONFIG_T_ENDPOINT,  /* ADDRESS:PORT */
	CONFIG_T_SET,       /* comma-separated names[], stored as an unsigned of bits 1 << index */
};

#define CONFIG_KEY_REQUIRED 1u

struct config_key {
	const char *name;
	enum config_type type;
	enum config_type item;         /* CONFIG_T_LIST: STRING or HOST */
	unsigned flags;
	const char *def;               /* parsed like a value; NULL: none */
	uint32_t min;
	uint32_t max;
	const char *const *names;      /* CONFIG_T_ENUM, CONFIG_T_SET: NULL-terminated */
	size_t off;                    /* field offset within the section's struct */
	size_t size;                   /* field size (string capacity) */
};

/* A default that differs in one instance of a shared key table. */
struct config_default {
	const char *key;
	const char *def;
};

struct config_section {
	const char *name;              /* for trunks the prefix "trunk" of [trunk:NAME] */
	const struct config_key *keys;
	size_t nkeys;
	size_t off;                    /* offset within struct sbc_config; unused for trunks */
	const struct config_default *defs;
	size_t ndefs;
	bool multi;                    /* [name:INSTANCE] sections */
};

extern const struct config_section config_sections[];
extern const size_t config_nsections;
extern const struct config_section config_trunk_section;
extern const char *const config_zone_names[];
extern const char *const config_transport_names[];
extern const char *const config_media_engine_names[];

const struct config_key *config_section_key(const struct config_section *s, const char *name);

#define CONFIG_SYNTAX_MAX 100
#define CONFIG_BAD_MAX    128

enum config_syntax_kind { CONFIG_SYNTAX_LINE, CONFIG_SYNTAX_TOO_LONG };

/* State of one config_load call. */
struct config_ctx {
	const char *path;              /* as given by the caller, for messages */
	struct config_errors *errs;    /* may be NULL */
	unsigned nerr;                 /* errors found, reported or not */
	bool nomem;
	struct sbc_config *cfg;
	dictionary *dict;
	struct {
		unsigned line;
		enum config_syntax_kind kind;
		bool reported;
	} syntax[CONFIG_SYNTAX_MAX];
	unsigned nsyntax;
	const void *bad[CONFIG_BAD_MAX];   /* fields whose value was refused */
	unsigned nbad;
};

void config_err(struct config_ctx *c, const char *sec, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void config_quote(char *out, size_t size, const char *s);
void config_bad_mark(struct config_ctx *c, const void *field);
bool config_bad(const struct config_ctx *c, const void *field);

int config_scan(struct config_ctx *c, const char *buf, size_t len);
void config_check(struct config_ctx *c);

int config_value_parse(const struct config_key *k, const char *val, void *dst,
		       char *why, size_t whysize);
void config_value_free(const struct config_key *k, void *dst);
int config_addr_parse(struct config_addr *a, const char *s);
int config_cidr_from_addr(struct config_cidr *c, const struct config_addr *a);

#endif
