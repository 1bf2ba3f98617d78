# Drives real zsh completion: zsh -f zsh-complete.zsh FPATH_DIR OUTFILE "line to complete".
# An interactive zsh in a pty (zpty) loads the completion with compinit; compadd is
# wrapped to append every candidate to OUTFILE; TAB is typed after the line.
zmodload zsh/zpty
dir=$1 out=$2 line=$3
zpty z zsh -f -i
zpty -w z "PS1='> '; fpath=($dir \$fpath); autoload -U compinit; compinit -u -d $out.dump"
zpty -w z "compadd() { if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd \"\$@\"; return; fi; typeset -a __h; builtin compadd -A __h \"\$@\"; print -l -- \$__h >> $out; builtin compadd \"\$@\" }"
zpty -w z "zstyle ':completion:*' list-prompt ''; zstyle ':completion:*' menu no"
zpty -n -w z "$line"$'\t'
for i in {1..50}; do [[ -s $out ]] && break; sleep 0.1; done
sleep 0.3
zpty -d z
