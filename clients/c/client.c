#include "pdpc.h"
#include "pdp.pb-c.h"
int pdpc_version(void){return 1;}
