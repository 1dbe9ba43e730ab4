/* placeholder until the server module lands; delete when pdp/server has real files */
int srv__placeholder(void);
int srv__placeholder(void) { return 0; }
