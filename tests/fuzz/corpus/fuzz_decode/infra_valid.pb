
node-1cpu_utilisation_ratioáz®GáÚ? €È˜¬Ó1*

dcwest*
rolebroker