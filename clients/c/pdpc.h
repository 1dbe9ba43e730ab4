#ifndef PDPC_H
#define PDPC_H
int pdpc_version(void);
#endif
